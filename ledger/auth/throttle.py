"""Keeping password guessing expensive, without letting anyone lock an account.

Every check of a password (signing in, and typing it again to confirm an act) is counted
within a window (15 minutes) in three ways:

* per client address, whatever handles it names — one address trying a common password
  on many accounts is slowed down after 10 failures and refused after 30;
* per handle from one address — one address guessing one account's password is slowed
  down after 5 failures and refused after 10;
* per handle, from every address — a distributed guess at one account slows down every
  attempt at it (after 5 failures, up to two seconds each) but *never refuses one*.

So whoever guesses wrong cannot lock the owner out: the right password from an address
that has not been failing is always checked, at worst after the per-handle delay. A
refusal is answered 429 with Retry-After: when enough of the failures leave the window.

A success from an address forgets the handle's earlier failures from that address (the
person's own typing), in the handle's count too; the address keeps its failures, so
signing in to one's own account buys an attacker no more guesses at others.

The failures live in PostgreSQL, so every instance of the service counts the same ones.
An attempt is written down *before* its password is checked and removed only if it
succeeds: concurrent attempts then see each other, and a burst of parallel guesses cannot
all slip in under a limit. A refused attempt checked no password and is not counted.

Signing up costs an Argon2id hash too: ``SignUpThrottle`` lets an address sign up only so
many times an hour (10 by default; ``LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR``).

The client address is ``request.remote``: the TCP peer, or behind a proxy the service is
told to trust (``LEDGER_TRUSTED_PROXIES``), the address that proxy says it serves
(ledger/http/middleware.py). Anyone else's X-Forwarded-For is ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import asyncpg
import structlog

log = structlog.get_logger(__name__)


# -- the rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """Slow down from ``slow_after`` failures on; refuse from ``refuse_after`` on."""

    slow_after: int
    refuse_after: int

    def __post_init__(self) -> None:
        if not 0 < self.slow_after <= self.refuse_after:
            raise ValueError("slow_after must be above 0 and at most refuse_after")


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta = timedelta(minutes=15)
    per_address: Limit = field(default_factory=lambda: Limit(slow_after=10, refuse_after=30))
    per_handle_at_address: Limit = field(
        default_factory=lambda: Limit(slow_after=5, refuse_after=10)
    )
    # Per handle from everywhere there is only a slow-down: a refusal there would let
    # anyone lock anyone out.
    per_handle_slow_after: int = 5
    first_delay_seconds: float = 0.25
    max_delay_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.per_handle_slow_after < 1:
            raise ValueError("per_handle_slow_after must be above 0")
        if not 0 < self.first_delay_seconds <= self.max_delay_seconds:
            raise ValueError("first_delay_seconds must be above 0 and at most max_delay_seconds")

    def handle_failures_that_matter(self) -> int:
        """From this many failures on a handle's delay is at its longest: more are not
        counted (as past its refusal, an address's are not)."""
        doublings = math.ceil(math.log2(self.max_delay_seconds / self.first_delay_seconds))
        return self.per_handle_slow_after + doublings


@dataclass(frozen=True)
class Failures:
    """Recent failures, before this attempt, for the three things an attempt is counted by."""

    address: int = 0
    handle_at_address: int = 0
    handle: int = 0


@dataclass(frozen=True)
class Verdict:
    refused: bool
    delay_seconds: float


def delay_for(failures: int, slow_after: int, policy: ThrottlePolicy) -> float:
    """Seconds to wait before checking a password: none below ``slow_after`` failures,
    then doubling from ``first_delay_seconds`` up to ``max_delay_seconds``."""
    if failures < slow_after:
        return 0.0
    doublings = min(failures - slow_after, 64)
    return min(policy.max_delay_seconds, policy.first_delay_seconds * 2.0**doublings)


def judge(failures: Failures, policy: ThrottlePolicy) -> Verdict:
    """What an attempt gets, given the failures so far. Only the address's counts can
    refuse it; the handle's alone can only slow it down."""
    refused = (
        failures.address >= policy.per_address.refuse_after
        or failures.handle_at_address >= policy.per_handle_at_address.refuse_after
    )
    delay = max(
        delay_for(failures.address, policy.per_address.slow_after, policy),
        delay_for(failures.handle_at_address, policy.per_handle_at_address.slow_after, policy),
        delay_for(failures.handle, policy.per_handle_slow_after, policy),
    )
    return Verdict(refused=refused, delay_seconds=0.0 if refused else delay)


# -- what is counted ---------------------------------------------------------------------


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


def handle_key(handle: str) -> str:
    return "handle:" + handle.lower()


def handle_at_address_key(handle: str, remote: str | None) -> str:
    address = address_key(remote).removeprefix("address:")
    return f"handle-at-address:{handle.lower()}@{address}"


@dataclass(frozen=True)
class Attempt:
    id: UUID
    handle_key: str
    handle_at_address_key: str


class SignInRefused(Exception):
    """Too many recent failures from this address: try again later."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class SignUpRefused(Exception):
    """Too many recent sign-ups from this address: try again later."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many sign-ups; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


# -- sign-in -----------------------------------------------------------------------------

_RECORD_ATTEMPT = """
WITH aged AS (
    DELETE FROM sign_in_failures WHERE failed_at <= now() - $3::interval
)
INSERT INTO sign_in_failures (key, attempt_id)
SELECT key, $2 FROM unnest($1::text[]) AS key
"""
# Per key, through sign_in_failures_by_key (key, failed_at), reading at most ``enough``
# rows each however many a distributed guess has piled up: the count, capped at what
# still matters, and when the ``enough``-th newest failure leaves the window (until then
# a key at its refusal stays refused).
_RECENT_FAILURES = """
SELECT k.key,
       (SELECT count(*) FROM (
            SELECT 1 FROM sign_in_failures f
            WHERE f.key = k.key AND f.failed_at > now() - $3::interval AND f.attempt_id <> $2
            LIMIT k.enough
       ) AS counted) AS failures,
       (SELECT ceil(extract(epoch FROM f.failed_at + $3::interval - now()))::integer
          FROM sign_in_failures f
          WHERE f.key = k.key AND f.failed_at > now() - $3::interval AND f.attempt_id <> $2
          ORDER BY f.failed_at DESC
          OFFSET k.enough - 1 LIMIT 1) AS refused_for_seconds
FROM unnest($1::text[], $4::integer[]) AS k(key, enough)
"""
# Through the primary key (attempt_id, key).
_FORGET_ATTEMPT = "DELETE FROM sign_in_failures WHERE attempt_id = $1"
# This attempt was no failure; and the handle's earlier failures from this address were
# the person's own typing: forgotten from the handle's count too (each attempt's rows share
# its id). The address keeps its rows. Through the primary key and sign_in_failures_by_key.
_SUCCEEDED = """
DELETE FROM sign_in_failures
WHERE attempt_id = $1
   OR (key = ANY($2::text[]) AND attempt_id IN (
           SELECT attempt_id FROM sign_in_failures WHERE key = $3))
"""


class SignInThrottle:
    def __init__(self, pool: asyncpg.Pool, policy: ThrottlePolicy) -> None:
        self._pool = pool
        self.policy = policy

    async def begin(self, handle: str, remote: str | None) -> Attempt:
        """Record an attempt; wait as long as its address and handle have earned, or raise
        SignInRefused. Counts as a failure until ``succeeded`` is called."""
        policy = self.policy
        attempt = Attempt(uuid.uuid4(), handle_key(handle), handle_at_address_key(handle, remote))
        address = address_key(remote)
        # What refuses: a key and the failures at which it does.
        refusing = {
            address: policy.per_address.refuse_after,
            attempt.handle_at_address_key: policy.per_handle_at_address.refuse_after,
        }
        keys = [*refusing, attempt.handle_key]
        enough = [*refusing.values(), policy.handle_failures_that_matter()]
        # Two statements on purpose: the count must run after this attempt's rows are
        # committed, so that of two concurrent attempts the later count sees the other.
        await self._pool.execute(_RECORD_ATTEMPT, keys, attempt.id, policy.window)
        rows = {
            row["key"]: row
            for row in await self._pool.fetch(
                _RECENT_FAILURES, keys, attempt.id, policy.window, enough
            )
        }
        failures = Failures(*(rows[key]["failures"] for key in keys))
        verdict = judge(failures, policy)
        if verdict.refused:
            await self._pool.execute(_FORGET_ATTEMPT, attempt.id)
            retry_after = max(
                rows[key]["refused_for_seconds"] or 0
                for key, limit in refusing.items()
                if rows[key]["failures"] >= limit
            )
            log.warning(
                "sign_in_refused", retry_after=retry_after,
                failures_from_address=failures.address,
                failures_for_handle_from_address=failures.handle_at_address,
            )
            raise SignInRefused(max(1, retry_after))
        if verdict.delay_seconds:
            # Slowed down whatever the password turns out to be: the wait tells nothing.
            log.info(
                "sign_in_slowed", delay_seconds=verdict.delay_seconds,
                failures_from_address=failures.address,
                failures_for_handle_from_address=failures.handle_at_address,
                failures_for_handle=failures.handle,
            )
            await asyncio.sleep(verdict.delay_seconds)
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        await self._pool.execute(
            _SUCCEEDED, attempt.id, [attempt.handle_key, attempt.handle_at_address_key],
            attempt.handle_at_address_key,
        )


# -- sign-up -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignUpPolicy:
    window: timedelta = timedelta(hours=1)
    per_address: int = 10

    def __post_init__(self) -> None:
        if self.per_address < 1:
            raise ValueError("per_address must be above 0")


_RECORD_SIGN_UP = """
WITH aged AS (
    DELETE FROM sign_up_attempts WHERE attempted_at <= now() - $3::interval
)
INSERT INTO sign_up_attempts (attempt_id, address) VALUES ($1, $2)
"""
# Through sign_up_attempts_by_address, reading at most ``per_address`` rows: the
# ``per_address``-th newest other sign-up, if any, and when it leaves the window.
_SIGN_UP_REFUSED_FOR = """
SELECT ceil(extract(epoch FROM attempted_at + $3::interval - now()))::integer
FROM sign_up_attempts
WHERE address = $2 AND attempted_at > now() - $3::interval AND attempt_id <> $1
ORDER BY attempted_at DESC
OFFSET $4 - 1 LIMIT 1
"""
_FORGET_SIGN_UP = "DELETE FROM sign_up_attempts WHERE attempt_id = $1"


class SignUpThrottle:
    def __init__(self, pool: asyncpg.Pool, policy: SignUpPolicy) -> None:
        self._pool = pool
        self.policy = policy

    async def begin(self, remote: str | None) -> None:
        """Count a sign-up from this address, or raise SignUpRefused when it has had its
        share of the window. Written down first, so that a burst is counted whole."""
        attempt_id = uuid.uuid4()
        address = address_key(remote)
        await self._pool.execute(_RECORD_SIGN_UP, attempt_id, address, self.policy.window)
        refused_for: int | None = await self._pool.fetchval(
            _SIGN_UP_REFUSED_FOR, attempt_id, address, self.policy.window,
            self.policy.per_address,
        )
        if refused_for is not None:
            await self._pool.execute(_FORGET_SIGN_UP, attempt_id)
            log.warning("sign_up_refused", retry_after=refused_for)
            raise SignUpRefused(max(1, refused_for))
