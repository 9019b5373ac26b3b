"""A rebuild's folds in memory leave exactly the rows that the folds run with each command
leave, in every read model, whatever the history.

Histories are drawn as the deciders' property tests draw them (tests/unit/): commands
tried by arbitrary members, in arbitrary order, through the polycule's decider; a refused
command changes nothing. Each accepted command's events are applied as the service applies
them, with every read model's statements (``apply``). Then the same stream is folded in
memory (``fold_in_memory``, projections/in_memory.py) and copied in over those rows, as a
rebuild does: every table must hold the very same rows. So the two folds of each read model
cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, get_args
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from ledger.domain.agreements import CommentKind, MakeComment
from ledger.domain.disclosures import (
    AcknowledgeDisclosure,
    Disclose,
    DisclosureKind,
    DisclosureMade,
)
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.domain.repair import AnnounceCommitmentDue
from ledger.errors import DomainError, NotFound
from ledger.events import EVENTS, DomainEvent
from ledger.store.events import EventStore
from ledger.store.records import NewEvent, RecordedEvent
from projections import member_read_models, read_side
from projections.in_memory import UTC_SESSION, NotFoldedInMemory, Rows, copy_rows
from projections.read_side import parked_polycules
from projections.rebuild import rebuild
from tests.unit import test_agreement_properties as agreeing
from tests.unit import test_repair_properties as repairing

READ_MODELS = member_read_models()
TABLES = [table for projection in READ_MODELS for table in projection.tables]
# A polycule's rows in each table, found by its id (a rebuild deletes them by it).
POLYCULE_COLUMN = {"stream_summaries": "stream_id"}

# A command's moment and the events it was answered with.
History = list[tuple[datetime, list[DomainEvent]]]


# --- Histories ---------------------------------------------------------------------------


def lived(
    data: st.DataObject,
    founding: Sequence[DomainEvent],
    see: Callable[[DomainEvent, datetime], None],
    tries: Callable[[datetime], st.SearchStrategy[PolyculeCommand]],
    steps: int,
) -> History:
    """``steps`` commands drawn from ``tries`` after ``founding``, through the decider."""
    clock = agreeing.NOW
    history: History = [(clock - timedelta(days=50), list(founding))]
    state = polycule_decider.fold(founding)
    for event in founding:
        see(event, clock)
    for _ in range(steps):
        clock += timedelta(hours=data.draw(st.integers(0, 36), label="hours pass"))
        command = data.draw(tries(clock), label="command")
        try:
            events = polycule_decider.decide(state, command)
        except (DomainError, NotFound):
            continue
        for decided in events:
            see(decided, clock)
            state = polycule_decider.evolve(state, decided)
        if events:
            history.append((clock, list(events)))
    return history


def agreements_lived(data: st.DataObject) -> History:
    """Proposals, answers, revisions, endings, reviews; members invited, joining, leaving."""
    seen = agreeing.Witness()

    def comment(seen: agreeing.Witness) -> st.SearchStrategy[PolyculeCommand]:
        return st.builds(
            MakeComment, actor=agreeing.actors(seen), at=st.just(agreeing.NOW),
            command_id=st.uuids(), comment_id=st.uuids(),
            proposal_id=agreeing.mostly(list(seen.proposals), agreeing.PROPOSALS),
            kind=st.sampled_from(get_args(CommentKind)), text=st.just("What counts as a date?"),
        )

    def tries(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return agreeing.usually(agreeing.worth_trying(seen), st.just(comment), odds=6).flatmap(
            lambda what: what(seen)
        ).map(lambda command: agreeing.stamped(command, clock))

    return lived(data, agreeing.FOUNDED, seen.see, tries, steps=40)


# An agreement in force with an amendment pending (tests/unit/), reviewed and reaffirmed.
UNDER_REVIEW = (
    agreeing.consent, agreeing.consent, agreeing.consent, agreeing.reaffirm, agreeing.reaffirm,
    agreeing.reaffirm, agreeing.request_review, agreeing.mark_review_due,
    agreeing.mark_review_due, agreeing.amend, agreeing.revise, agreeing.object_,
    agreeing.propose_ending, agreeing.revoke, agreeing.withdraw,
)


def agreements_reviewed(data: st.DataObject) -> History:
    seen = agreeing.Witness()

    def tries(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return st.sampled_from(UNDER_REVIEW).flatmap(lambda what: what(seen)).map(
            lambda command: agreeing.stamped(command, clock)
        )

    return lived(data, [*agreeing.FOUNDED, *agreeing.AMENDING], seen.see, tries, steps=30)


def falling_due(seen: repairing.Witness, clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
    """The scheduler, announcing that a commitment's next occurrence has come."""
    made = [(breach_id, commitment_id) for breach_id, breach in seen.breaches.items()
            for commitment_id in breach.commitments]
    anything = [(b, c) for b in repairing.BREACHES for c in repairing.COMMITMENTS]
    return st.tuples(repairing.mostly(made, anything), st.integers(1, 4)).map(
        lambda drawn: AnnounceCommitmentDue(
            actor=repairing.ROBIN, at=clock, command_id=uuid.uuid4(), breach_id=drawn[0][0],
            commitment_id=drawn[0][1], occurrence=drawn[1],
        )
    )


# Every step of a repair (tests/unit/), repairs closing more often, and commitments falling
# due among them.
REPAIRING = (
    *repairing.TRIES, repairing.end_repair, *[repairing.choose_restoration] * 2,
    *[falling_due] * 6,
)


def repairs_lived(data: st.DataObject) -> History:
    """Breaches and every step of their repair."""
    seen = repairing.Witness()

    def tries(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return st.sampled_from(REPAIRING).flatmap(lambda what: what(seen, clock))

    return lived(data, repairing.HISTORY, lambda event, _: seen.see(event), tries, steps=40)


def disclosures_lived(data: st.DataObject) -> History:
    """Disclosures to chosen members or the whole polycule, corrections, acknowledgements."""
    members = [agreeing.ROBIN, agreeing.SAM, agreeing.ALEX, agreeing.KIM]
    made: list[UUID] = [uuid.uuid4()]  # the first is drawn before it is made

    def disclose(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return st.builds(
            Disclose, actor=st.sampled_from(members), at=st.just(clock), command_id=st.uuids(),
            disclosure_id=st.just(made[-1]), kind=st.sampled_from(get_args(DisclosureKind)),
            text=st.sampled_from(("I met someone.", " I feel it. ")), audience=st.sampled_from(
                ("polycule", "chosen")),
            recipients=st.lists(st.sampled_from(members), max_size=3).map(tuple),
            fulfils_agreement_id=st.none() | st.uuids(),
            corrects_disclosure_id=st.none() | st.sampled_from(made),
        )

    def acknowledge(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return st.builds(
            AcknowledgeDisclosure, actor=st.sampled_from(members), at=st.just(clock),
            command_id=st.uuids(), disclosure_id=st.sampled_from(made),
        )

    def see(event: DomainEvent, clock: datetime) -> None:
        if isinstance(event, DisclosureMade):
            made.append(uuid.uuid4())

    def tries(clock: datetime) -> st.SearchStrategy[PolyculeCommand]:
        return st.one_of(disclose(clock), acknowledge(clock), acknowledge(clock))

    return lived(data, agreeing.FOUNDED, see, tries, steps=20)


# --- Folding it both ways ----------------------------------------------------------------


def recorded(polycule_id: UUID, version: int, at: datetime, event: DomainEvent) -> RecordedEvent:
    """The event as the store gives it back (what the folds read of it)."""
    event_type, schema_version, data = EVENTS.encode(event)
    return RecordedEvent(
        position=version, transaction_id=version, stream_id=polycule_id,
        stream_version=version, event_id=uuid.uuid4(), event_type=event_type,
        schema_version=schema_version, data=data, metadata={}, recorded_at=at,
        previous_hash=b"", hash=b"",
    )


async def rows_of(connection: asyncpg.Connection, polycule_id: UUID) -> dict[str, list[str]]:
    """The polycule's rows, table by table, as PostgreSQL gives them back, in one order."""
    return {
        table: sorted(
            str(tuple(row.values())) for row in await connection.fetch(
                f"SELECT * FROM {table} WHERE {POLYCULE_COLUMN.get(table, 'polycule_id')} = $1",
                polycule_id,
            )
        )
        for table in TABLES
    }


class FoldedBothWays(NamedTuple):
    # The rows the statements leave, command by command.
    inline: dict[str, list[str]]
    # The rows the folds in memory leave, copied in over them as a rebuild does; None when
    # they cannot answer for the stream.
    in_memory: dict[str, list[str]] | None
    # Commands whose events the statements refused: they are not in the stream.
    refused: int


async def folded_both_ways(pool: asyncpg.Pool, history: History) -> FoldedBothWays:
    """The history folded both ways; nothing stays written."""
    polycule_id = uuid.uuid4()
    stream: list[RecordedEvent] = []
    refused = 0
    async with pool.acquire() as connection:
        outer = connection.transaction()
        await outer.start()
        try:
            for at, events in history:
                command = [
                    recorded(polycule_id, len(stream) + number, at, event)
                    for number, event in enumerate(events, start=1)
                ]
                try:
                    async with connection.transaction():
                        for projection in READ_MODELS:
                            await projection.apply(connection, command)
                except asyncpg.PostgresError:
                    # Refused whole, as the service refuses it (ReadModelRefused): not
                    # recorded. (Say, a commitment id made again in another breach.)
                    refused += 1
                    continue
                stream.extend(command)
            inline = await rows_of(connection, polycule_id)
            try:
                folded: Rows = {
                    table: rows for projection in READ_MODELS
                    for table, rows in projection.fold_in_memory(stream, UTC_SESSION).items()
                }
            except NotFoldedInMemory:
                return FoldedBothWays(inline, None, refused)
            for projection in READ_MODELS:
                await projection.forget(connection, [polycule_id])
            schema = await connection.fetchval("SELECT current_schema()")
            await copy_rows(connection, schema, TABLES, [folded])
            return FoldedBothWays(inline, await rows_of(connection, polycule_id), refused)
        finally:
            await outer.rollback()


async def the_same_rows(pool: asyncpg.Pool, history: History, read_model: str) -> None:
    inline, in_memory, refused = await folded_both_ways(pool, history)
    if refused:
        tally("a command was refused by the statements")
    if in_memory is None:
        # A stream with a command left out may name what it never made: a rebuild folds it
        # with the statements. Any history the deciders make whole, the folds answer for.
        assert refused, "the folds in memory answer for any history the deciders make"
        return
    for table in TABLES:
        assert in_memory[table] == inline[table], table
    for kind in sorted({type(event).__name__ for _, events in history for event in events}):
        tally(f"folded {kind}")
    for projection in READ_MODELS:
        if projection.name == read_model:
            for table in projection.tables:
                tally(f"{table} holds rows" if inline[table] else f"{table} holds none")


HYPOTHESIS = settings(
    max_examples=40, deadline=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(data=st.data())
async def test_agreements_and_memberships_rebuilt_in_memory_are_the_rows_applied_inline(
    pool: asyncpg.Pool, data: st.DataObject
) -> None:
    await the_same_rows(pool, agreements_lived(data), "agreements")


@HYPOTHESIS
@given(data=st.data())
async def test_agreements_reviewed_and_amended_rebuilt_in_memory_are_the_rows_applied_inline(
    pool: asyncpg.Pool, data: st.DataObject
) -> None:
    await the_same_rows(pool, agreements_reviewed(data), "agreements")


@HYPOTHESIS
@given(data=st.data())
async def test_repairs_rebuilt_in_memory_are_the_rows_applied_inline(
    pool: asyncpg.Pool, data: st.DataObject
) -> None:
    await the_same_rows(pool, repairs_lived(data), "repairs")


@HYPOTHESIS
@given(data=st.data())
async def test_disclosures_rebuilt_in_memory_are_the_rows_applied_inline(
    pool: asyncpg.Pool, data: st.DataObject
) -> None:
    await the_same_rows(pool, disclosures_lived(data), "disclosures")


# --- What the folds in memory cannot answer for ------------------------------------------


async def test_a_stream_the_folds_in_memory_cannot_answer_for_is_rebuilt_by_the_statements(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    # An answer to a proposal the stream never made (as a store written by hand might
    # hold): the statements cannot show it, and a rebuild parks that polycule alone.
    fine, broken = uuid.uuid4(), uuid.uuid4()
    for polycule_id in (fine, broken):
        await store.append(polycule_id, 0, [
            new_event(event) for event in agreeing.FOUNDED
        ])
    stray = agreeing.ConsentGiven(proposal_id=uuid.uuid4(), revision=1, member_id=agreeing.SAM)
    await store.append(broken, len(agreeing.FOUNDED), [new_event(stray)])
    [agreements] = [projection for projection in READ_MODELS if projection.name == "agreements"]
    with pytest.raises(NotFoldedInMemory):
        agreements.fold_in_memory([recorded(broken, 1, agreeing.NOW, stray)], UTC_SESSION)

    await rebuild(read_side(pool))

    [parked] = await parked_polycules(pool)
    assert (parked.polycule_id, parked.version) == (broken, len(agreeing.FOUNDED))
    assert parked.event_type == "ConsentGiven"
    shown = await pool.fetchval("SELECT version FROM polycule_read_models WHERE polycule_id = $1",
                                fine)
    assert shown == len(agreeing.FOUNDED)
    assert await pool.fetchval(
        "SELECT count(*) FROM memberships WHERE polycule_id = $1", fine
    ) == 4


def new_event(event: DomainEvent) -> NewEvent:
    event_type, schema_version, data = EVENTS.encode(event)
    return NewEvent(event_id=uuid.uuid4(), event_type=event_type,
                    schema_version=schema_version, data=data)


async def test_every_read_model_table_finds_a_polycules_rows_by_an_index(
    pool: asyncpg.Pool,
) -> None:
    """A rebuild deletes a polycule's rows from every table by the polycule's id."""
    led_by_it = {
        row["table"] for row in await pool.fetch("""
            SELECT t.relname AS table, a.attname AS first
              FROM pg_index i
              JOIN pg_class t ON t.oid = i.indrelid
              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
             WHERE t.relnamespace = current_schema()::regnamespace
        """)
        if row["first"] == POLYCULE_COLUMN.get(row["table"], "polycule_id")
    }
    assert [table for table in TABLES if table not in led_by_it] == []

