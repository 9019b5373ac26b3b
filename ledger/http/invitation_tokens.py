"""The tokens of invitations (to join a polycule, to support a repair): ``<polycule>.<secret>``.

The secret travels only to the person invited; the stream keeps its SHA-256, so the token
is shown once and a lost one is replaced by a new invitation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from uuid import UUID

from ledger.errors import NotFound

# What a token looks like: the polycule's id in hex, a dot, the secret (24 random bytes in
# URL-safe base64).
INVITATION_TOKEN = re.compile(r"[0-9a-f]{32}\.[A-Za-z0-9_-]{32}")


def new_invitation(polycule_id: UUID) -> tuple[str, str]:
    """A fresh token for ``polycule_id`` and the hash of its secret."""
    secret = secrets.token_urlsafe(24)
    return f"{polycule_id.hex}.{secret}", secret_hash(secret)


def read_invitation(token: str) -> tuple[UUID, str]:
    """The polycule a token names and the hash of its secret; 404 for a malformed one."""
    polycule_hex, _, secret = token.partition(".")
    try:
        return UUID(hex=polycule_hex), secret_hash(secret)
    except ValueError:
        raise NotFound("no such invitation") from None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
