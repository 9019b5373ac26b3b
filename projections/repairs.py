"""Read model: breaches, and the repair that follows each one.

It keeps what the repair screens look at: the breaches a member may see, each with both
accounts and how its repair stands; every step of a repair as it happened (the timeline);
each participant's check-ins, the commitments and how each occurrence was marked, the
factors named and addressed, the harmed parties' decisions and the new boundaries. What is
read from it, and how: projections/repair_queries.py.

Words stay exactly as they are in the event, sealed (ledger/privacy.py); whoever shows them
opens them. A supporter invitation's secret hash is never copied here: it is the key to a
repair, and it stays in the stream.

Tables and indexes: ledger/store/migrations/0007_disclosures_and_repair.sql.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from ledger.store.records import JsonObject, RecordedEvent
from projections.batching import Statements
from projections.in_memory import Keyed, Rows, Session

if TYPE_CHECKING:
    from ledger.database import Connection

# --- Folding events into rows ------------------------------------------------------------

_REPORTED = """
INSERT INTO breaches (breach_id, polycule_id, agreement_id, version, parties, harmed,
                      breached_by, reported_by, happened_at, reported_at, reported_in,
                      what_happened, status, acknowledged_at, audience)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $5)
"""
_ACKNOWLEDGED = """
UPDATE breaches SET status = 'acknowledged', acknowledgement = $2, acknowledged_at = $3
 WHERE breach_id = $1 AND polycule_id = $4
"""
_DISPUTED = """
UPDATE breaches SET status = 'disputed', dispute = $2, disputed_at = $3
 WHERE breach_id = $1 AND polycule_id = $4
"""
# The added members after the audience there was, in the order the reporter gave them.
_AUDIENCE_WIDENED = """
UPDATE breaches
   SET audience = audience || ARRAY(
           SELECT added FROM unnest($2::uuid[]) WITH ORDINALITY AS a (added, n)
            WHERE NOT added = ANY (audience) ORDER BY n)
 WHERE breach_id = $1 AND polycule_id = $3
"""
_SUPPORTER_JOINED = """
UPDATE breaches SET supporters = array_append(supporters, $2)
 WHERE breach_id = $1 AND polycule_id = $3 AND NOT $2 = ANY (supporters)
"""
_RESTORATION_CHOSEN = """
UPDATE breaches SET restored_by = array_append(restored_by, $2)
 WHERE breach_id = $1 AND polycule_id = $3 AND NOT $2 = ANY (restored_by)
"""
_CLOSED = """
WITH closed AS (
    UPDATE breaches SET repair_status = $2, closed_at = $3, closed_by = $4, close_note = $5
     WHERE breach_id = $1 AND polycule_id = $6
)
-- Nothing falls due in a closed repair.
UPDATE commitments SET next_due_at = NULL WHERE breach_id = $1 AND polycule_id = $6
"""
_DECISION_MADE = """
INSERT INTO repair_decisions (breach_id, stream_version, member_id, decision, note, at,
                              polycule_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
_FACTOR_NAMED = """
INSERT INTO repair_factors (factor_id, breach_id, factor, named_by, named_at, named_in, note,
                            polycule_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
# Exactly one row, as every statement whose answer a fold reads (projections/batching.py).
_FACTOR_ADDRESSED = """
WITH addressed AS (
    UPDATE repair_factors SET addressed_at = $2, addressed_by = $3, addressed_note = $4
     WHERE factor_id = $1 AND polycule_id = $5
    RETURNING factor
)
SELECT (SELECT factor FROM addressed) AS factor
"""
_BOUNDARY_LINKED = """
INSERT INTO repair_boundaries (breach_id, proposal_id, linked_by, linked_at, linked_in,
                               polycule_id)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_COMMITMENT_MADE = """
INSERT INTO commitments (commitment_id, breach_id, made_by, what, first_due_at, every_days,
                         made_at, made_in, next_due_at, polycule_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $5, $9)
"""
# The next occurrence falls due a period later; a one-off has no next.
_COMMITMENT_FELL_DUE = """
UPDATE commitments
   SET announced_through = $2,
       next_due_at = CASE WHEN every_days IS NULL THEN NULL
                          ELSE first_due_at + make_interval(days => every_days * $2) END
 WHERE commitment_id = $1 AND polycule_id = $3
"""
_COMMITMENT_MARKED = """
INSERT INTO commitment_marks (commitment_id, occurrence, due_at, mark, marked_by, marked_at,
                              note, polycule_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
_CHECK_IN_RECORDED = """
INSERT INTO check_ins (breach_id, stream_version, member_id, at, trust, setback, note,
                       private, polycule_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
_TIMELINE = """
INSERT INTO repair_timeline (polycule_id, stream_version, breach_id, at, what, member_id,
                             words, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
# Everything of some polycules, before their rebuild: every table holds its polycule's id.
_FORGET = """
WITH timeline AS (
    DELETE FROM repair_timeline WHERE polycule_id = ANY ($1::uuid[])
), check_ins AS (
    DELETE FROM check_ins WHERE polycule_id = ANY ($1::uuid[])
), marks AS (
    DELETE FROM commitment_marks WHERE polycule_id = ANY ($1::uuid[])
), commitments AS (
    DELETE FROM commitments WHERE polycule_id = ANY ($1::uuid[])
), factors AS (
    DELETE FROM repair_factors WHERE polycule_id = ANY ($1::uuid[])
), decisions AS (
    DELETE FROM repair_decisions WHERE polycule_id = ANY ($1::uuid[])
), boundaries AS (
    DELETE FROM repair_boundaries WHERE polycule_id = ANY ($1::uuid[])
)
DELETE FROM breaches WHERE polycule_id = ANY ($1::uuid[])
"""


class _Step(NamedTuple):
    """A timeline row, in _TIMELINE's parameter order."""

    polycule_id: UUID
    stream_version: int
    breach_id: UUID
    at: datetime
    what: str
    member_id: UUID | None
    words: JsonObject | None
    detail: JsonObject | None


def _step(
    event: RecordedEvent,
    member_id: UUID | None,
    *,
    words: JsonObject | None = None,
    detail: JsonObject | None = None,
) -> _Step:
    return _Step(
        event.stream_id, event.stream_version, UUID(event.data["breach_id"]), event.recorded_at,
        event.event_type, member_id, words, detail,
    )


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value is not None else None


def _uuids(values: Sequence[str]) -> list[UUID]:
    return [UUID(value) for value in values]


def _pick(data: JsonObject, *names: str) -> JsonObject:
    """The named plain facts of an event, as stored (ids and moments are strings)."""
    return {name: data.get(name) for name in names}


async def _reported(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    parties = _uuids(data["parties"])
    breached_by, reported_by = UUID(data["breached_by"]), UUID(data["reported_by"])
    # Reporting one's own breach is owning it: it is acknowledged from the start.
    self_reported = breached_by == reported_by
    await connection.execute(
        _REPORTED, UUID(data["breach_id"]), event.stream_id, UUID(data["agreement_id"]),
        data["version"], parties, [party for party in parties if party != breached_by],
        breached_by, reported_by, datetime.fromisoformat(data["happened_at"]),
        event.recorded_at, event.stream_version, data["what_happened"],
        "acknowledged" if self_reported else "reported",
        event.recorded_at if self_reported else None,
    )
    return _step(
        event, reported_by, words=data["what_happened"],
        detail=_pick(data, "agreement_id", "version", "breached_by", "happened_at"),
    )


async def _answered(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    statement = _ACKNOWLEDGED if event.event_type == "BreachAcknowledged" else _DISPUTED
    await connection.execute(
        statement, UUID(data["breach_id"]), data.get("account"), event.recorded_at,
        event.stream_id,
    )
    return _step(event, UUID(data["member_id"]), words=data.get("account"))


async def _audience_widened(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    await connection.execute(
        _AUDIENCE_WIDENED, UUID(data["breach_id"]), _uuids(data["added"]), event.stream_id
    )
    return _step(event, UUID(data["member_id"]), detail=_pick(data, "added"))


async def _words_shared(connection: Statements, event: RecordedEvent) -> _Step:
    """Responsibility, impact, an apology: the words are the step, and the timeline holds them."""
    return _step(event, UUID(event.data["member_id"]), words=event.data["words"])


async def _decision_made(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _DECISION_MADE, UUID(data["breach_id"]), event.stream_version, member_id,
        data["decision"], data.get("note"), event.recorded_at, event.stream_id,
    )
    return _step(event, member_id, words=data.get("note"), detail=_pick(data, "decision"))


async def _factor_named(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _FACTOR_NAMED, UUID(data["factor_id"]), UUID(data["breach_id"]), data["factor"],
        member_id, event.recorded_at, event.stream_version, data.get("note"), event.stream_id,
    )
    return _step(
        event, member_id, words=data.get("note"), detail=_pick(data, "factor_id", "factor")
    )


async def _factor_addressed(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    factor = await connection.fetchval(
        _FACTOR_ADDRESSED, UUID(data["factor_id"]), event.recorded_at, member_id,
        data.get("note"), event.stream_id,
    )
    return _step(
        event, member_id, words=data.get("note"),
        detail={**_pick(data, "factor_id"), "factor": factor},
    )


async def _boundary_linked(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _BOUNDARY_LINKED, UUID(data["breach_id"]), UUID(data["proposal_id"]), member_id,
        event.recorded_at, event.stream_version, event.stream_id,
    )
    return _step(event, member_id, detail=_pick(data, "proposal_id"))


async def _commitment_made(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _COMMITMENT_MADE, UUID(data["commitment_id"]), UUID(data["breach_id"]), member_id,
        data["what"], datetime.fromisoformat(data["first_due_at"]), data.get("every_days"),
        event.recorded_at, event.stream_version, event.stream_id,
    )
    return _step(
        event, member_id, words=data["what"],
        detail=_pick(data, "commitment_id", "first_due_at", "every_days"),
    )


async def _commitment_fell_due(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    await connection.execute(
        _COMMITMENT_FELL_DUE, UUID(data["commitment_id"]), data["occurrence"], event.stream_id
    )
    return _step(event, None, detail=_pick(data, "commitment_id", "occurrence", "due_at"))


async def _commitment_marked(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _COMMITMENT_MARKED, UUID(data["commitment_id"]), data["occurrence"],
        datetime.fromisoformat(data["due_at"]), data["mark"], member_id, event.recorded_at,
        data.get("note"), event.stream_id,
    )
    return _step(
        event, member_id, words=data.get("note"),
        detail=_pick(data, "commitment_id", "occurrence", "due_at", "mark"),
    )


async def _checked_in(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    setback = bool(data.get("setback", False))
    private = bool(data.get("private", False))
    await connection.execute(
        _CHECK_IN_RECORDED, UUID(data["breach_id"]), event.stream_version, member_id,
        event.recorded_at, data["trust"], setback, data.get("note"), private, event.stream_id,
    )
    return _step(
        event, member_id, words=data.get("note"),
        detail={"trust": data["trust"], "setback": setback, "private": private},
    )


async def _supporter_invited(connection: Statements, event: RecordedEvent) -> _Step:
    # Deliberately not the secret's hash (see the module's docstring).
    return _step(
        event, UUID(event.data["member_id"]),
        detail=_pick(event.data, "invitation_id", "expires_at"),
    )


async def _supporter_joined(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    supporter_id = UUID(data["supporter_id"])
    await connection.execute(
        _SUPPORTER_JOINED, UUID(data["breach_id"]), supporter_id, event.stream_id
    )
    return _step(event, supporter_id, detail=_pick(data, "invitation_id"))


async def _restoration_chosen(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = UUID(data["member_id"])
    await connection.execute(
        _RESTORATION_CHOSEN, UUID(data["breach_id"]), member_id, event.stream_id
    )
    return _step(event, member_id)


async def _closed(connection: Statements, event: RecordedEvent) -> _Step:
    data = event.data
    member_id = _uuid(data.get("member_id"))
    await connection.execute(
        _CLOSED, UUID(data["breach_id"]), data["outcome"], event.recorded_at, member_id,
        data.get("note"), event.stream_id,
    )
    return _step(event, member_id, words=data.get("note"), detail=_pick(data, "outcome"))


_FOLDS: dict[str, Callable[[Statements, RecordedEvent], Awaitable[_Step]]] = {
    "BreachReported": _reported,
    "BreachAcknowledged": _answered,
    "BreachDisputed": _answered,
    "BreachAudienceWidened": _audience_widened,
    "ResponsibilityTaken": _words_shared,
    "ImpactShared": _words_shared,
    "ApologyMade": _words_shared,
    "RepairDecisionMade": _decision_made,
    "FactorNamed": _factor_named,
    "FactorAddressed": _factor_addressed,
    "BoundaryLinked": _boundary_linked,
    "CommitmentMade": _commitment_made,
    "CommitmentFellDue": _commitment_fell_due,
    "CommitmentMarked": _commitment_marked,
    "CheckInRecorded": _checked_in,
    "SupporterInvited": _supporter_invited,
    "SupporterJoined": _supporter_joined,
    "RestorationChosen": _restoration_chosen,
    "RepairClosed": _closed,
}


# --- The same rows, folded in memory for a rebuild (projections/in_memory.py) -------------
# Event by event as the statements above, each kind of event in a method of its own.


@dataclass(slots=True)
class _Breach:
    breach_id: UUID
    polycule_id: UUID
    agreement_id: UUID
    version: int
    parties: list[UUID]
    harmed: list[UUID]
    breached_by: UUID
    reported_by: UUID
    happened_at: datetime
    reported_at: datetime
    reported_in: int
    what_happened: Any
    status: str
    acknowledged_at: datetime | None
    audience: list[UUID]
    acknowledgement: Any = None
    dispute: Any = None
    disputed_at: datetime | None = None
    supporters: list[UUID] = field(default_factory=list)
    repair_status: str = "open"
    closed_at: datetime | None = None
    closed_by: UUID | None = None
    close_note: Any = None
    restored_by: list[UUID] = field(default_factory=list)


class _Decision(NamedTuple):
    breach_id: UUID
    stream_version: int
    member_id: UUID
    decision: str
    note: Any
    at: datetime
    polycule_id: UUID


@dataclass(slots=True)
class _Factor:
    factor_id: UUID
    breach_id: UUID
    factor: str
    named_by: UUID
    named_at: datetime
    named_in: int
    note: Any
    polycule_id: UUID
    addressed_at: datetime | None = None
    addressed_by: UUID | None = None
    addressed_note: Any = None


class _Boundary(NamedTuple):
    breach_id: UUID
    proposal_id: UUID
    linked_by: UUID
    linked_at: datetime
    linked_in: int
    polycule_id: UUID


@dataclass(slots=True)
class _Commitment:
    commitment_id: UUID
    breach_id: UUID
    made_by: UUID
    what: Any
    first_due_at: datetime
    every_days: int | None
    made_at: datetime
    made_in: int
    next_due_at: datetime | None
    polycule_id: UUID
    announced_through: int = 0


class _Mark(NamedTuple):
    commitment_id: UUID
    occurrence: int
    due_at: datetime
    mark: str
    marked_by: UUID
    marked_at: datetime
    note: Any
    polycule_id: UUID


class _CheckIn(NamedTuple):
    breach_id: UUID
    stream_version: int
    member_id: UUID
    at: datetime
    trust: int
    setback: bool
    note: Any
    private: bool
    polycule_id: UUID


class _InMemory:
    """What ``Repairs.apply`` leaves in empty tables, event by event."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.breaches: Keyed[UUID, _Breach] = Keyed()
        self.timeline: Keyed[int, _Step] = Keyed()
        self.check_ins: Keyed[tuple[UUID, int], _CheckIn] = Keyed()
        self.commitments: Keyed[UUID, _Commitment] = Keyed()
        self.marks: Keyed[tuple[UUID, int], _Mark] = Keyed()
        self.factors: Keyed[UUID, _Factor] = Keyed()
        self.decisions: Keyed[tuple[UUID, int], _Decision] = Keyed()
        self.boundaries: Keyed[tuple[UUID, UUID], _Boundary] = Keyed()

    def rows(self) -> Rows:
        return {
            "breaches": list(self.breaches),
            "repair_timeline": list(self.timeline),
            "check_ins": list(self.check_ins),
            "commitments": list(self.commitments),
            "commitment_marks": list(self.marks),
            "repair_factors": list(self.factors),
            "repair_decisions": list(self.decisions),
            "repair_boundaries": list(self.boundaries),
        }

    def apply(self, event: RecordedEvent) -> None:
        fold = self._FOLDS.get(event.event_type)
        if fold is not None:
            step = fold(self, event)
            self.timeline.insert(step.stream_version, step)

    def _reported(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach_id = UUID(data["breach_id"])
        parties = _uuids(data["parties"])
        breached_by, reported_by = UUID(data["breached_by"]), UUID(data["reported_by"])
        self_reported = breached_by == reported_by
        self.breaches.insert(breach_id, _Breach(
            breach_id, event.stream_id, UUID(data["agreement_id"]), data["version"], parties,
            [party for party in parties if party != breached_by], breached_by, reported_by,
            datetime.fromisoformat(data["happened_at"]), event.recorded_at,
            event.stream_version, data["what_happened"],
            "acknowledged" if self_reported else "reported",
            event.recorded_at if self_reported else None, parties,
        ))
        return _step(
            event, reported_by, words=data["what_happened"],
            detail=_pick(data, "agreement_id", "version", "breached_by", "happened_at"),
        )

    def _answered(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach = self.breaches.get(UUID(data["breach_id"]))
        if breach is not None and event.event_type == "BreachAcknowledged":
            breach.status, breach.acknowledgement = "acknowledged", data.get("account")
            breach.acknowledged_at = event.recorded_at
        elif breach is not None:
            breach.status, breach.dispute = "disputed", data.get("account")
            breach.disputed_at = event.recorded_at
        return _step(event, UUID(data["member_id"]), words=data.get("account"))

    def _audience_widened(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach = self.breaches.get(UUID(data["breach_id"]))
        if breach is not None:
            had = breach.audience  # the added members after it, in the order given
            breach.audience = [*had, *(member for member in _uuids(data["added"])
                                       if member not in had)]
        return _step(event, UUID(data["member_id"]), detail=_pick(data, "added"))

    def _words_shared(self, event: RecordedEvent) -> _Step:
        return _step(event, UUID(event.data["member_id"]), words=event.data["words"])

    def _decision_made(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach_id, member_id = UUID(data["breach_id"]), UUID(data["member_id"])
        self.decisions.insert((breach_id, event.stream_version), _Decision(
            breach_id, event.stream_version, member_id, data["decision"], data.get("note"),
            event.recorded_at, event.stream_id,
        ))
        return _step(event, member_id, words=data.get("note"), detail=_pick(data, "decision"))

    def _factor_named(self, event: RecordedEvent) -> _Step:
        data = event.data
        factor_id, member_id = UUID(data["factor_id"]), UUID(data["member_id"])
        self.factors.insert(factor_id, _Factor(
            factor_id, UUID(data["breach_id"]), data["factor"], member_id, event.recorded_at,
            event.stream_version, data.get("note"), event.stream_id,
        ))
        return _step(
            event, member_id, words=data.get("note"), detail=_pick(data, "factor_id", "factor")
        )

    def _factor_addressed(self, event: RecordedEvent) -> _Step:
        data = event.data
        member_id = UUID(data["member_id"])
        factor = self.factors.get(UUID(data["factor_id"]))
        if factor is not None:
            factor.addressed_at, factor.addressed_by = event.recorded_at, member_id
            factor.addressed_note = data.get("note")
        return _step(
            event, member_id, words=data.get("note"),
            detail={**_pick(data, "factor_id"), "factor": factor and factor.factor},
        )

    def _boundary_linked(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach_id, proposal_id = UUID(data["breach_id"]), UUID(data["proposal_id"])
        member_id = UUID(data["member_id"])
        self.boundaries.insert((breach_id, proposal_id), _Boundary(
            breach_id, proposal_id, member_id, event.recorded_at, event.stream_version,
            event.stream_id,
        ))
        return _step(event, member_id, detail=_pick(data, "proposal_id"))

    def _commitment_made(self, event: RecordedEvent) -> _Step:
        data = event.data
        commitment_id, member_id = UUID(data["commitment_id"]), UUID(data["member_id"])
        first_due_at = datetime.fromisoformat(data["first_due_at"])
        self.commitments.insert(commitment_id, _Commitment(
            commitment_id, UUID(data["breach_id"]), member_id, data["what"], first_due_at,
            data.get("every_days"), event.recorded_at, event.stream_version, first_due_at,
            event.stream_id,
        ))
        return _step(
            event, member_id, words=data["what"],
            detail=_pick(data, "commitment_id", "first_due_at", "every_days"),
        )

    def _commitment_fell_due(self, event: RecordedEvent) -> _Step:
        data = event.data
        commitment = self.commitments.get(UUID(data["commitment_id"]))
        if commitment is not None:
            occurrence = data["occurrence"]
            commitment.announced_through = occurrence
            commitment.next_due_at = None if commitment.every_days is None else (
                self.session.plus_days(
                    commitment.first_due_at, commitment.every_days * occurrence
                )
            )
        return _step(event, None, detail=_pick(data, "commitment_id", "occurrence", "due_at"))

    def _commitment_marked(self, event: RecordedEvent) -> _Step:
        data = event.data
        commitment_id, member_id = UUID(data["commitment_id"]), UUID(data["member_id"])
        self.marks.insert((commitment_id, data["occurrence"]), _Mark(
            commitment_id, data["occurrence"], datetime.fromisoformat(data["due_at"]),
            data["mark"], member_id, event.recorded_at, data.get("note"), event.stream_id,
        ))
        return _step(
            event, member_id, words=data.get("note"),
            detail=_pick(data, "commitment_id", "occurrence", "due_at", "mark"),
        )

    def _checked_in(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach_id, member_id = UUID(data["breach_id"]), UUID(data["member_id"])
        setback = bool(data.get("setback", False))
        private = bool(data.get("private", False))
        self.check_ins.insert((breach_id, event.stream_version), _CheckIn(
            breach_id, event.stream_version, member_id, event.recorded_at, data["trust"],
            setback, data.get("note"), private, event.stream_id,
        ))
        return _step(
            event, member_id, words=data.get("note"),
            detail={"trust": data["trust"], "setback": setback, "private": private},
        )

    def _supporter_invited(self, event: RecordedEvent) -> _Step:
        return _step(
            event, UUID(event.data["member_id"]),
            detail=_pick(event.data, "invitation_id", "expires_at"),
        )

    def _supporter_joined(self, event: RecordedEvent) -> _Step:
        data = event.data
        supporter_id = UUID(data["supporter_id"])
        breach = self.breaches.get(UUID(data["breach_id"]))
        if breach is not None and supporter_id not in breach.supporters:
            breach.supporters = [*breach.supporters, supporter_id]
        return _step(event, supporter_id, detail=_pick(data, "invitation_id"))

    def _restoration_chosen(self, event: RecordedEvent) -> _Step:
        data = event.data
        member_id = UUID(data["member_id"])
        breach = self.breaches.get(UUID(data["breach_id"]))
        if breach is not None and member_id not in breach.restored_by:
            breach.restored_by = [*breach.restored_by, member_id]
        return _step(event, member_id)

    def _closed(self, event: RecordedEvent) -> _Step:
        data = event.data
        breach_id, member_id = UUID(data["breach_id"]), _uuid(data.get("member_id"))
        breach = self.breaches.get(breach_id)
        if breach is not None:
            breach.repair_status, breach.closed_at = data["outcome"], event.recorded_at
            breach.closed_by, breach.close_note = member_id, data.get("note")
        for commitment in self.commitments:
            if commitment.breach_id == breach_id:  # nothing falls due in a closed repair
                commitment.next_due_at = None
        return _step(event, member_id, words=data.get("note"), detail=_pick(data, "outcome"))

    _FOLDS: dict[str, Callable[[_InMemory, RecordedEvent], _Step]] = {
        "BreachReported": _reported,
        "BreachAcknowledged": _answered,
        "BreachDisputed": _answered,
        "BreachAudienceWidened": _audience_widened,
        "ResponsibilityTaken": _words_shared,
        "ImpactShared": _words_shared,
        "ApologyMade": _words_shared,
        "RepairDecisionMade": _decision_made,
        "FactorNamed": _factor_named,
        "FactorAddressed": _factor_addressed,
        "BoundaryLinked": _boundary_linked,
        "CommitmentMade": _commitment_made,
        "CommitmentFellDue": _commitment_fell_due,
        "CommitmentMarked": _commitment_marked,
        "CheckInRecorded": _checked_in,
        "SupporterInvited": _supporter_invited,
        "SupporterJoined": _supporter_joined,
        "RestorationChosen": _restoration_chosen,
        "RepairClosed": _closed,
    }


class Repairs:
    name = "repairs"
    tables = (
        "breaches", "repair_timeline", "check_ins", "commitments", "commitment_marks",
        "repair_factors", "repair_decisions", "repair_boundaries",
    )
    folds_in_steps = True

    async def apply(self, connection: Statements, events: Sequence[RecordedEvent]) -> None:
        # One statement per event, in order (each may read what the one before wrote), and
        # the batch's timeline rows together at the end.
        timeline = []
        for event in events:
            fold = _FOLDS.get(event.event_type)
            if fold is not None:
                timeline.append(await fold(connection, event))
        if timeline:
            await connection.executemany(_TIMELINE, timeline)

    def fold_in_memory(self, events: Sequence[RecordedEvent], session: Session) -> Rows:
        folded = _InMemory(session)
        for event in events:
            folded.apply(event)
        return folded.rows()

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(_FORGET, list(polycule_ids))
