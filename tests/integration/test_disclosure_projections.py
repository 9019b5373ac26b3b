"""The disclosures read model on real PostgreSQL: disclosures made and acknowledged through
the application service, folded by the projection, read back the way the screens read it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from ledger.auth import policy
from ledger.domain import Command
from ledger.domain.agreements import Consent, ProposeAgreement
from ledger.domain.disclosures import AcknowledgeDisclosure, Disclose
from ledger.domain.polycules import (
    AcceptInvitation,
    InviteMember,
    LeavePolycule,
    polycule_decider,
)
from ledger.privacy import KeyRing, as_sealed, decrypt_event_fields
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from projections import disclosures as read_model
from projections import inbox, member_read_models, read_side
from projections.disclosures import Acknowledgement, DisclosureRow, Disclosures
from projections.rebuild import rebuild
from tests.integration.test_agreement_projections import (
    Polycule,
    polycule_of,
    statement,
    wording,
)
from tests.support import read_models_caught_up, sequential_scans_last

C = TypeVar("C", bound=Command)
TABLES = ("disclosures", "disclosure_acknowledgements")
A_NEW_DATE = "I have a first date with Sam on Friday"
FEELING_JEALOUS = "I felt jealous last weekend and want to talk about it"
THE_CORRECTION = "Correction: the date with Sam is on Saturday"


@dataclass
class Told:
    """What was disclosed in the polycule (see ``tell``), and when."""

    polycule: Polycule
    ids: dict[str, UUID] = field(default_factory=dict)
    at: dict[str, datetime] = field(default_factory=dict)

    def member(self, name: str) -> UUID:
        return self.polycule.members[name]

    def members(self, *names: str) -> tuple[UUID, ...]:
        return tuple(self.member(name) for name in names)


async def by(
    polycule: Polycule, member: str, kind: type[C], /, *, at: datetime | None = None,
    **fields: Any,
) -> datetime:
    """``member`` does ``kind`` (Polycule.by, for commands with a field named ``kind``)."""
    done = kind(
        actor=polycule.members[member], at=at or datetime.now(UTC), command_id=uuid.uuid4(),
        **fields,
    )
    return await polycule.do(done)  # type: ignore[arg-type]


async def tell(service: ApplicationService, store: EventStore) -> Told:
    """ash, blue, cedar and dune; the agreement "dates" binds ash and blue.

    * "date": ash tells blue of a new connection, as "dates" asks; blue acknowledges it.
    * "jealous": blue tells the whole polycule of a feeling; cedar acknowledges it.
    * "correction": ash corrects "date", to blue again; blue has not acknowledged it yet.
    """
    polycule = await polycule_of(service, store, "ash", "blue", "cedar", "dune")
    told = Told(polycule)
    ids, at = told.ids, told.at
    ids |= {name: uuid.uuid4() for name in ("dates", "dates/create", "date", "jealous",
                                             "correction")}
    await by(
        polycule, "ash", ProposeAgreement, proposal_id=ids["dates/create"],
        agreement_id=ids["dates"], parties=told.members("ash", "blue"),
        text=wording("Dates", "Tell before a first date", category="disclosure",
                     definitions={"date": "a planned romantic evening"}),
    )
    await by(polycule, "blue", Consent, proposal_id=ids["dates/create"], revision=1)

    at["date"] = await by(
        polycule, "ash", Disclose, disclosure_id=ids["date"], kind="new_connection",
        text=A_NEW_DATE, audience="chosen", recipients=told.members("blue"),
        fulfils_agreement_id=ids["dates"],
    )
    at["jealous"] = await by(
        polycule, "blue", Disclose, disclosure_id=ids["jealous"], kind="feelings",
        text=FEELING_JEALOUS, audience="polycule",
    )
    at["blue acknowledged"] = await by(
        polycule, "blue", AcknowledgeDisclosure, disclosure_id=ids["date"]
    )
    at["cedar acknowledged"] = await by(
        polycule, "cedar", AcknowledgeDisclosure, disclosure_id=ids["jealous"]
    )
    at["correction"] = await by(
        polycule, "ash", Disclose, disclosure_id=ids["correction"], kind="new_connection",
        text=THE_CORRECTION, audience="chosen", recipients=told.members("blue"),
        corrects_disclosure_id=ids["date"],
    )
    return told


async def join(polycule: Polycule, name: str, member_id: UUID | None = None) -> None:
    """``name`` joins, invited by the founder: a new member, or ``member_id`` of elsewhere."""
    secret = uuid.uuid4().hex
    founder = next(iter(polycule.members))
    await by(
        polycule, founder, InviteMember, invitation_id=uuid.uuid4(), secret_hash=secret,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    polycule.members[name] = member_id or uuid.uuid4()
    await by(polycule, name, AcceptInvitation, secret_hash=secret, display_name=name)


async def caught_up(pool: asyncpg.Pool) -> None:
    await read_models_caught_up(pool)


async def readable(member: UUID, *polycules: Polycule) -> policy.Readable:
    """What ``member`` may read of these polycules, as the policy decides and the routes
    ask the read models (each polycule as loaded from its stream)."""
    states = [(await p.service.load(p.id, polycule_decider))[0] for p in polycules]
    return policy.readable_by(member, *states)


def ids_of(rows: list[DisclosureRow], told: Told) -> list[str]:
    names = {disclosure_id: name for name, disclosure_id in told.ids.items()}
    return [names[row.disclosure_id] for row in rows]


async def table_rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [dict(row) for row in await pool.fetch(
            f"SELECT * FROM {table} ORDER BY row_to_json({table})::text"
        )]
        for table in TABLES
    }


# --- What each member made or was told ---------------------------------------------------


async def test_each_member_sees_what_they_made_or_were_told_newest_first(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    told = await tell(service, store)
    await join(told.polycule, "erin")  # joins after "jealous" went to the whole polycule: not told
    polycule, ids, at = told.polycule, told.ids, told.at

    await caught_up(pool)

    async def seen_by(name: str) -> list[DisclosureRow]:
        allowed = await readable(told.member(name), polycule)
        return await read_model.disclosures_for(pool, polycule.id, allowed.disclosures)

    assert ids_of(await seen_by("ash"), told) == ["correction", "jealous", "date"]
    assert ids_of(await seen_by("blue"), told) == ["correction", "jealous", "date"]
    # Outside the audience, nothing: not the content, not the kind, not that it exists.
    assert ids_of(await seen_by("cedar"), told) == ["jealous"]
    assert ids_of(await seen_by("dune"), told) == ["jealous"]
    assert await seen_by("erin") == []
    assert await readable(uuid.uuid4(), polycule) == policy.Readable()
    everything = (await readable(told.member("ash"), polycule)).disclosures
    assert await read_model.disclosures_for(pool, uuid.uuid4(), everything) == []

    correction, jealous, date = await seen_by("ash")
    assert (date.discloser, date.kind, date.audience, date.recipients) == (
        told.member("ash"), "new_connection", "chosen", told.members("blue")
    )
    assert (date.fulfils_agreement_id, date.corrects_disclosure_id) == (ids["dates"], None)
    assert date.made_at == at["date"]
    assert date.acknowledgements == (
        Acknowledgement(told.member("blue"), at["blue acknowledged"]),
    )
    assert (jealous.audience, jealous.recipients) == (
        "polycule", told.members("ash", "cedar", "dune")
    )
    assert jealous.acknowledgements == (
        Acknowledgement(told.member("cedar"), at["cedar acknowledged"]),
    )
    assert (correction.corrects_disclosure_id, correction.acknowledgements) == (ids["date"], ())
    assert as_sealed(correction.text) is not None

    assert await read_model.disclosure(pool, polycule.id, ids["date"]) == date
    # Nothing is ever read across polycules.
    assert await read_model.disclosure(pool, uuid.uuid4(), ids["date"]) is None


async def test_what_is_left_to_acknowledge_follows_acknowledgements_and_membership(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    told = await tell(service, store)
    # blue belongs to another polycule too, where erin tells them something.
    other = await polycule_of(service, store, "erin")
    await join(other, "blue", told.member("blue"))
    told.ids["elsewhere"] = uuid.uuid4()
    await by(
        other, "erin", Disclose, disclosure_id=told.ids["elsewhere"], kind="other",
        text="Hello from elsewhere", audience="polycule",
    )
    await caught_up(pool)

    async def to_acknowledge(name: str) -> list[str]:
        member = told.member(name)
        allowed = await readable(member, told.polycule, other)
        rows = await inbox.disclosures_to_acknowledge(pool, member, allowed.disclosures)
        return ids_of(rows, told)

    # blue acknowledged "date"; "jealous" is blue's own.
    assert await to_acknowledge("blue") == ["correction", "elsewhere"]
    assert await to_acknowledge("ash") == ["jealous"]
    assert await to_acknowledge("cedar") == []
    assert await to_acknowledge("dune") == ["jealous"]

    await by(told.polycule, "blue", AcknowledgeDisclosure, disclosure_id=told.ids["correction"])
    await by(told.polycule, "dune", LeavePolycule)
    await caught_up(pool)

    assert await to_acknowledge("blue") == ["elsewhere"]
    # dune left the polycule: nothing there waits for them any more.
    assert await to_acknowledge("dune") == []
    assert await to_acknowledge("ash") == ["jealous"]
    correction = await read_model.disclosure(pool, told.polycule.id, told.ids["correction"])
    assert correction is not None
    assert [ack.member_id for ack in correction.acknowledgements] == [told.member("blue")]


# --- Rebuilding, and the words kept sealed -----------------------------------------------


async def test_a_rebuild_gives_exactly_the_rows_applied_one_command_at_a_time(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    projection = Disclosures()
    told = await tell(service, store)
    await read_models_caught_up(pool)
    for name, disclosure in (("ash", "jealous"), ("dune", "jealous"), ("blue", "correction")):
        await by(told.polycule, name, AcknowledgeDisclosure, disclosure_id=told.ids[disclosure])
        await read_models_caught_up(pool)
    incremental = await table_rows(pool)

    applied = await rebuild(read_side(pool), [projection.name])

    assert await table_rows(pool) == incremental
    assert applied == await pool.fetchval("SELECT count(*) FROM events")
    assert [len(incremental[table]) for table in TABLES] == [3, 5]


async def test_words_are_kept_sealed_and_open_for_those_told(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing
) -> None:
    told = await tell(service, store)
    await caught_up(pool)

    everything = "\n".join([
        await pool.fetchval(f"SELECT coalesce(json_agg({table})::text, '') FROM {table}")
        for table in TABLES
    ])
    for words in (A_NEW_DATE, FEELING_JEALOUS, THE_CORRECTION, "Sam", "jealous"):
        assert words not in everything

    row = await read_model.disclosure(pool, told.polycule.id, told.ids["date"])
    assert row is not None
    assert await decrypt_event_fields({"text": row.text}, keyring) == {"text": A_NEW_DATE}


# --- Indexes and registration ------------------------------------------------------------


async def test_every_read_uses_an_index(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    told = await tell(service, store)
    await caught_up(pool)
    polycule, member = told.polycule.id, told.member("blue")
    reads: dict[str, tuple[Any, ...]] = {
        "DISCLOSURES_FOR": (polycule, [told.ids["date"], told.ids["jealous"]]),
        "DISCLOSURE": (polycule, told.ids["date"]),
        "ACKNOWLEDGEMENTS_OF": ([told.ids["date"], told.ids["jealous"]],),
        "TO_ACKNOWLEDGE": (member, [told.ids["date"], told.ids["jealous"]]),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, read_model, inbox)}", *arguments
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"


def test_the_service_keeps_the_disclosures_current() -> None:
    assert "disclosures" in [projection.name for projection in member_read_models()]
