"""Passwords, hashed with Argon2id (argon2-cffi), never kept or logged in the clear.

Hashing and verifying are deliberately slow and memory-hungry (that is the protection), so
both run in a worker thread: the event loop keeps serving other requests meanwhile.
Which passwords may be chosen at all is password_rules.py's business.
"""

from __future__ import annotations

import asyncio
import secrets

import structlog
from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

log = structlog.get_logger(__name__)

# argon2-cffi's default profile: Argon2id, t=3, m=64 MiB, p=4 (RFC 9106, second choice).
DEFAULT_HASHING = RFC_9106_LOW_MEMORY


class Passwords:
    """Hash new passwords and check offered ones against stored hashes."""

    def __init__(self, parameters: Parameters = DEFAULT_HASHING) -> None:
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._stand_in_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. With no stored hash (no such account) the same
        work is done against a stand-in, so the answer's timing does not tell whether a
        handle exists."""
        if stored_hash is None:
            await self._verify(await self._stand_in(), password)
            return False
        return await self._verify(stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """The stored hash was made with other parameters than today's: rehash on sign-in."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    async def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, stored_hash, password)
        except VerificationError:  # the wrong password (VerifyMismatchError) among others
            return False
        except InvalidHashError:
            # A damaged row, not the caller's fault; the hash itself is not logged.
            log.warning("stored_password_hash_unreadable")
            return False

    async def _stand_in(self) -> str:
        if self._stand_in_hash is None:
            self._stand_in_hash = await self.hash(secrets.token_urlsafe(32))
        return self._stand_in_hash
