"""Every request's credential (an API token or a browser's session) is looked up first;
those that arrive while others are in flight are looked up together, in one statement
(ledger/store/together.py). Each request is answered with its own credential's bearer and
its own polycule's position — never another request's — whatever the others asked for:
live credentials, revoked ones, unknown ones, those of an erased account, the same one
twice, no polycule at all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.auth.sessions import Sessions
from ledger.auth.tokens import ApiTokens, new_api_token
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from tests.integration.test_agreement_projections import polycule_of

KINDS = ["ash's", "blue's", "ash's revoked", "erased's", "unknown"]
# Which polycule a request is about: none, or one of two with different histories.
STREAMS = [None, "small", "large"]

ASKED = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(STREAMS)), min_size=4, max_size=24
)


async def account(pool: asyncpg.Pool, handle: str) -> uuid.UUID:
    account_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO accounts (id, handle, display_name, password_hash) "
        "VALUES ($1, $2, 'Someone', 'not a real hash')",
        account_id, f"{handle}{account_id.hex[:8]}",
    )
    return account_id


async def tokens_of(
    pool: asyncpg.Pool, ash: uuid.UUID, blue: uuid.UUID, erased: uuid.UUID
) -> tuple[Any, dict[str, str], dict[str, uuid.UUID]]:
    """API tokens: each kind's secret, and the id each live one is known by."""
    tokens = ApiTokens(pool)
    issued = {
        "ash's": await tokens.issue(ash, "phone"),
        "blue's": await tokens.issue(blue, "bot"),
        "ash's revoked": await tokens.issue(ash, "old laptop"),
        "erased's": await tokens.issue(erased, "tablet"),
    }
    await tokens.revoke(ash, issued["ash's revoked"].id)
    secrets = {kind: made.token for kind, made in issued.items()}
    secrets["unknown"] = new_api_token()
    return tokens, secrets, {kind: made.id for kind, made in issued.items()}


async def sessions_of(
    pool: asyncpg.Pool, ash: uuid.UUID, blue: uuid.UUID, erased: uuid.UUID
) -> tuple[Any, dict[str, str], dict[str, uuid.UUID]]:
    """Browsers' sessions, the same way (the revoked one signed out)."""
    sessions = Sessions(pool)
    started = {
        "ash's": await sessions.start(ash),
        "blue's": await sessions.start(blue),
        "ash's revoked": await sessions.start(ash),
        "erased's": await sessions.start(erased),
    }
    await sessions.end(started["ash's revoked"].id)
    secrets = {kind: made.token for kind, made in started.items()}
    secrets["unknown"] = (await sessions.start(blue)).token[::-1]
    return sessions, secrets, {kind: made.id for kind, made in started.items()}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(asked=ASKED)
@example(asked=[("ash's", "small"), ("blue's", "large"), ("ash's", "large"), ("ash's", None)])
@example(asked=[("unknown", "small"), ("ash's revoked", "small"), ("erased's", "large"),
                ("blue's", "small"), ("blue's", "small")])
@pytest.mark.parametrize("credentials", [tokens_of, sessions_of], ids=["tokens", "sessions"])
async def test_each_request_is_answered_with_its_own_credential(
    pool: asyncpg.Pool, service: ApplicationService, store: EventStore,
    credentials: Any, asked: list[tuple[str, str | None]],
) -> None:
    ash, blue, erased = [await account(pool, name) for name in ("ash", "blue", "gone")]
    lookups, secrets, ids = await credentials(pool, ash, blue, erased)
    await pool.execute("UPDATE accounts SET erased_at = now() WHERE id = $1", erased)
    streams: dict[str | None, uuid.UUID | None] = {
        None: None,
        "small": (await polycule_of(service, store, "cedar")).id,
        "large": (await polycule_of(service, store, "dune", "elm", "fern")).id,
    }

    def request(kind: str, stream: str | None) -> Any:
        if isinstance(lookups, ApiTokens):
            return lookups.bearer(secrets[kind], stream_id=streams[stream])
        return lookups.live(secrets[kind], stream_id=streams[stream])

    # Each alone, one after another: nothing is in flight when each is asked.
    alone = [await request(kind, stream) for kind, stream in asked]
    largest_alone = lookups.lookups.largest
    await pool.execute("UPDATE api_tokens SET last_used_at = NULL")

    together = await asyncio.gather(*(request(kind, stream) for kind, stream in asked))

    assert largest_alone == 1
    assert lookups.lookups.largest > 1  # some were looked up together
    assert together == alone
    for answer, (kind, stream) in zip(together, asked, strict=True):
        if kind in ("ash's", "blue's"):
            assert answer is not None
            assert answer.account_id == (ash if kind == "ash's" else blue)
            assert (answer.stream_version is None) == (stream is None)
        else:
            assert answer is None
    if isinstance(lookups, ApiTokens):
        assert [answer and answer.token_id for answer in together] == [
            ids[kind] if kind in ("ash's", "blue's") else None for kind, _ in asked
        ]
        # Their use is recorded, together or not.
        used = {
            row["id"] for row in await pool.fetch(
                "SELECT id FROM api_tokens WHERE last_used_at IS NOT NULL"
            )
        }
        assert used == {ids[kind] for kind, _ in asked if kind in ("ash's", "blue's")}
    else:
        assert [answer and answer.id for answer in together] == [
            ids[kind] if kind in ("ash's", "blue's") else None for kind, _ in asked
        ]
