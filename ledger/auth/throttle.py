"""Slowing down password guessing, per handle and per client address.

Within a window (15 minutes), once a handle or an address has ``slow_after`` (5) failed
sign-ins, each further attempt waits before its password is checked, longer each time up
to ``max_delay``; from ``refuse_after`` (10) failures on, attempts are refused outright
(429, with Retry-After) until the oldest failures leave the window. A successful sign-in
clears its handle's failures; its address keeps them, so signing in to one's own account
does not buy an attacker more guesses at others.

The failures live in PostgreSQL, so every instance of the service counts the same ones.
An attempt is written down *before* its password is checked and removed only if it
succeeds: concurrent attempts then see each other, and a burst of parallel guesses cannot
all slip in under the limit.

The client address is ``request.remote``, the peer of the TCP connection. X-Forwarded-For
is not trusted: any client can send it. Behind a reverse proxy every request comes from
the proxy's address, so the proxy must be made known to the service first (not supported
yet) or the per-address limit counts everyone together.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta = timedelta(minutes=15)
    slow_after: int = 5
    refuse_after: int = 10
    first_delay_seconds: float = 0.25
    max_delay_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.slow_after <= self.refuse_after:
            raise ValueError("slow_after must be above 0 and at most refuse_after")


class SignInRefused(Exception):
    """Too many recent failures for this handle or address: try again later."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def delay_for(failures: int, policy: ThrottlePolicy) -> float:
    """Seconds to wait before checking a password, given the recent failures so far."""
    if failures < policy.slow_after:
        return 0.0
    doublings = failures - policy.slow_after
    return min(policy.max_delay_seconds, policy.first_delay_seconds * 2.0**doublings)


def handle_key(handle: str) -> str:
    return "handle:" + handle.lower()


def address_key(remote: str | None) -> str:
    """The throttling key of a client address. An IPv6 host usually holds a whole /64,
    so the /64 is what is counted; anything unparseable is counted as one bucket."""
    if not remote:
        return "address:unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return "address:unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"address:{address.ipv4_mapped}"
        return f"address:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"address:{address}"


@dataclass(frozen=True)
class Attempt:
    id: UUID
    handle_key: str


_RECORD_ATTEMPT = """
WITH aged AS (
    DELETE FROM sign_in_failures WHERE failed_at <= now() - $3::interval
)
INSERT INTO sign_in_failures (key, attempt_id)
SELECT key, $2 FROM unnest($1::text[]) AS key
"""
# Per key through sign_in_failures_by_key. Besides the count, the ``refuse_after``-th
# newest failure: the attempts are refused until it leaves the window.
_RECENT_FAILURES = """
SELECT key,
       count(*) AS failures,
       ceil(extract(epoch FROM
           (array_agg(failed_at ORDER BY failed_at DESC))[$4] + $3::interval - now()
       ))::integer AS refused_for_seconds
FROM sign_in_failures
WHERE key = ANY($1::text[]) AND failed_at > now() - $3::interval AND attempt_id <> $2
GROUP BY key
"""
# Through the primary key (attempt_id, key) and sign_in_failures_by_key.
_FORGET_ATTEMPT = "DELETE FROM sign_in_failures WHERE attempt_id = $1"
_CLEAR_HANDLE = "DELETE FROM sign_in_failures WHERE attempt_id = $1 OR key = $2"


class SignInThrottle:
    def __init__(self, pool: asyncpg.Pool, policy: ThrottlePolicy) -> None:
        self._pool = pool
        self.policy = policy

    async def begin(self, handle: str, remote: str | None) -> Attempt:
        """Record an attempt; wait as long as its handle and address have earned, or
        raise SignInRefused. Counts as a failure until ``succeeded`` is called."""
        attempt = Attempt(uuid.uuid4(), handle_key(handle))
        keys = [attempt.handle_key, address_key(remote)]
        # Two statements on purpose: the count must run after this attempt's row is
        # committed, so that of two concurrent attempts the later count sees the other.
        await self._pool.execute(_RECORD_ATTEMPT, keys, attempt.id, self.policy.window)
        rows = await self._pool.fetch(
            _RECENT_FAILURES, keys, attempt.id, self.policy.window, self.policy.refuse_after
        )
        failures = max((row["failures"] for row in rows), default=0)
        if failures >= self.policy.refuse_after:
            # A refused attempt tested no password: it is not a failure to count.
            await self._pool.execute(_FORGET_ATTEMPT, attempt.id)
            retry_after = max(row["refused_for_seconds"] or 0 for row in rows)
            log.warning("sign_in_refused", failures=failures, retry_after=retry_after)
            raise SignInRefused(max(1, retry_after))
        delay = delay_for(failures, self.policy)
        if delay:
            await asyncio.sleep(delay)
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        await self._pool.execute(_CLEAR_HANDLE, attempt.id, attempt.handle_key)
