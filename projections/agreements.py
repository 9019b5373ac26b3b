"""Read model: agreements and the proposals that make, change and end them.

It keeps what members look at: a polycule's agreements in force and its open proposals,
with each party's answer; every version with the consents that made it and how it ended;
every proposal, revision, consent and objection, and the questions and comments members
made about it; each agreement's timeline; the review clocks and deadlines the scheduler
watches. What is read from it, and how:
projections/agreement_queries.py.

An answer may change while its proposal is open (a yes that becomes a no): every answer is
a row of its own, in the order given, and none is updated or removed.

Words stay exactly as they are in the event, sealed (ledger/privacy.py); whoever shows them
to a member opens them. A read model never holds anyone's words in the clear.

Tables and indexes: ledger/store/migrations/0006_agreements.sql, with proposal_responses'
keys as 0010_answers_may_change.sql left them, and proposal_comments
(0017_proposal_comments.sql).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

from ledger.store.records import JsonObject, RecordedEvent
from projections.batching import Statements
from projections.in_memory import Keyed, NotFoldedInMemory, Rows, Session

if TYPE_CHECKING:
    from ledger.database import Connection

# --- Folding events into rows ------------------------------------------------------------

_PROPOSED = """
WITH proposal AS (
    INSERT INTO agreement_proposals (proposal_id, polycule_id, agreement_id, kind, proposed_by,
                                     parties, revision, text, note, base_version, respond_by,
                                     opened_at, opened_in, asks_again)
    VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13)
), first_revision AS (
    INSERT INTO proposal_revisions (proposal_id, revision, parties, text, revised_at,
                                    polycule_id)
    VALUES ($1, 1, $6, $7, $11, $2)
)
-- An amendment or an ending is its agreement's one open proposal (a new one has no row yet).
UPDATE agreements SET open_proposal_id = $1 WHERE agreement_id = $3 AND polycule_id = $2
"""
_REVISED = """
WITH revised AS (
    UPDATE agreement_proposals SET revision = $2, parties = $3, text = $4, respond_by = $5
     WHERE proposal_id = $1 AND polycule_id = $7
    RETURNING agreement_id, proposed_by
), new_revision AS (
    INSERT INTO proposal_revisions (proposal_id, revision, parties, text, revised_at,
                                    polycule_id)
    VALUES ($1, $2, $3, $4, $6, $7)
)
-- Exactly one row, as every statement whose answer a fold reads (projections/batching.py).
SELECT (SELECT agreement_id FROM revised) AS agreement_id,
       (SELECT proposed_by FROM revised) AS proposed_by
"""
# One row per answer, a changed answer included: the event's place in the stream names it.
_ANSWERED = """
WITH answer AS (
    INSERT INTO proposal_responses (proposal_id, revision, member_id, response, reason,
                                    responded_at, responded_in, polycule_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
)
SELECT (SELECT agreement_id FROM agreement_proposals
         WHERE proposal_id = $1 AND polycule_id = $8) AS agreement_id
"""
# The event's place in the stream orders a proposal's conversation; its id is the guard.
_COMMENTED = """
WITH comment AS (
    INSERT INTO proposal_comments (comment_id, proposal_id, polycule_id, member_id, revision,
                                   kind, text, made_at, made_in)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
)
SELECT (SELECT agreement_id FROM agreement_proposals
         WHERE proposal_id = $2 AND polycule_id = $3) AS agreement_id
"""
_CLOSED = """
WITH closed AS (
    UPDATE agreement_proposals SET status = $2, closed_at = $3
     WHERE proposal_id = $1 AND polycule_id = $4
    RETURNING agreement_id, revision
), released AS (
    UPDATE agreements SET open_proposal_id = NULL
     WHERE agreement_id = (SELECT agreement_id FROM closed) AND polycule_id = $4
       AND open_proposal_id = $1
)
SELECT (SELECT agreement_id FROM closed) AS agreement_id, (SELECT revision FROM closed) AS revision
"""
# The ratified revision's wording becomes the version in force; the version it replaces
# stays in force until this very moment.
_RATIFIED = """
WITH ratified AS (
    UPDATE agreement_proposals SET status = 'ratified', closed_at = $7
     WHERE proposal_id = $3 AND polycule_id = $1
), amended AS (
    UPDATE agreement_versions SET in_force_until = $7, ended_how = 'amended'
     WHERE agreement_id = $2 AND version = $5::integer - 1 AND polycule_id = $1
), wording AS (
    SELECT text, text ->> 'category' AS category FROM proposal_revisions
     WHERE proposal_id = $3 AND revision = $4 AND polycule_id = $1
), new_version AS (
    INSERT INTO agreement_versions (agreement_id, version, polycule_id, proposal_id, revision,
                                    parties, category, text, in_force_from)
    SELECT $2, $5, $1, $3, $4, $6::uuid[], category, text, $7 FROM wording
)
INSERT INTO agreements (agreement_id, polycule_id, version, status, parties, category, text,
                        proposal_id, revision, in_force_since, established_in, next_review_at)
SELECT $2, $1, $5, 'active', $6::uuid[], category, text, $3, $4, $7, $8::bigint,
       $9::timestamptz
  FROM wording
ON CONFLICT (agreement_id, polycule_id) DO UPDATE
   SET version = excluded.version, parties = excluded.parties, category = excluded.category,
       text = excluded.text, proposal_id = excluded.proposal_id, revision = excluded.revision,
       in_force_since = excluded.in_force_since, next_review_at = excluded.next_review_at,
       -- A new version starts a new review clock.
       review_due = false, review_due_since = NULL, reaffirmed_by = '{}',
       open_proposal_id = NULL
"""
_ENDED = """
WITH version_ended AS (
    UPDATE agreement_versions
       SET in_force_until = $3, ended_how = $4, ended_by = $5, end_note = $6
     WHERE agreement_id = $1 AND version = $2 AND polycule_id = $7
)
UPDATE agreements
   SET status = 'ended', ended_at = $3, end_reason = $4, ended_by = $5,
       open_proposal_id = NULL
 WHERE agreement_id = $1 AND polycule_id = $7
"""
# An ending the parties agreed to is that proposal's ratification. A statement of its own,
# made only when there is such a proposal: on Citus a statement one of whose parts looks
# for a NULL id is sent to no shard at all, and none of its other parts is made either.
_ENDING_RATIFIED = """
UPDATE agreement_proposals SET status = 'ratified', closed_at = $2
 WHERE proposal_id = $1 AND polycule_id = $3
"""
# Reaffirmations count towards the review under way only: a new one starts from none.
_REVIEW_BEGAN = """
UPDATE agreements SET review_due = true, review_due_since = $2, reaffirmed_by = '{}'
 WHERE agreement_id = $1 AND polycule_id = $3
"""
_REAFFIRMED = """
UPDATE agreements SET reaffirmed_by = array_append(reaffirmed_by, $2)
 WHERE agreement_id = $1 AND polycule_id = $3 AND NOT $2 = ANY (reaffirmed_by)
"""
_REVIEW_COMPLETED = """
UPDATE agreements
   SET review_due = false, review_due_since = NULL, reaffirmed_by = '{}', next_review_at = $2
 WHERE agreement_id = $1 AND polycule_id = $3
"""
_TIMELINE = """
INSERT INTO agreement_timeline (polycule_id, stream_version, agreement_id, at, what, member_id,
                                proposal_id, revision, version, note, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""
# Everything of some polycules, before their rebuild: one statement.
_FORGET = """
WITH timeline AS (
    DELETE FROM agreement_timeline WHERE polycule_id = ANY ($1::uuid[])
), versions AS (
    DELETE FROM agreement_versions WHERE polycule_id = ANY ($1::uuid[])
), current AS (
    DELETE FROM agreements WHERE polycule_id = ANY ($1::uuid[])
), responses AS (
    DELETE FROM proposal_responses WHERE polycule_id = ANY ($1::uuid[])
), revisions AS (
    DELETE FROM proposal_revisions WHERE polycule_id = ANY ($1::uuid[])
), comments AS (
    DELETE FROM proposal_comments WHERE polycule_id = ANY ($1::uuid[])
)
DELETE FROM agreement_proposals WHERE polycule_id = ANY ($1::uuid[])
"""


class _Entry(NamedTuple):
    """A timeline row, in _TIMELINE's parameter order."""

    polycule_id: UUID
    stream_version: int
    # None only if the event names a proposal this read model never saw; the NOT NULL
    # constraint then fails the batch loudly rather than losing the entry.
    agreement_id: UUID | None
    at: datetime
    what: str
    member_id: UUID | None
    proposal_id: UUID | None
    revision: int | None
    version: int | None
    note: JsonObject | None
    detail: str | None


def _entry(
    event: RecordedEvent,
    agreement_id: UUID | None,
    *,
    member_id: UUID | None = None,
    proposal_id: UUID | None = None,
    revision: int | None = None,
    version: int | None = None,
    note: JsonObject | None = None,
    detail: str | None = None,
) -> _Entry:
    return _Entry(
        event.stream_id, event.stream_version, agreement_id, event.recorded_at,
        event.event_type, member_id, proposal_id, revision, version, note, detail,
    )


def _uuid(value: str | None) -> UUID | None:
    return UUID(value) if value is not None else None


def _in_force_moment(event: RecordedEvent) -> datetime:
    """When a version came into force or stopped: the moment the event itself names (the
    decider resolves a breach's version by it too), so that both answer alike."""
    return datetime.fromisoformat(event.data["at"])


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def _proposed(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    proposal_id, agreement_id = UUID(data["proposal_id"]), UUID(data["agreement_id"])
    proposed_by = UUID(data["proposed_by"])
    await connection.execute(
        _PROPOSED, proposal_id, event.stream_id, agreement_id, data["kind"], proposed_by,
        [UUID(party) for party in data["parties"]], data["text"], data.get("note"),
        data.get("base_version"), _moment(data.get("respond_by")), event.recorded_at,
        event.stream_version, _uuid(data.get("asks_again")),
    )
    return _entry(
        event, agreement_id, member_id=proposed_by, proposal_id=proposal_id, revision=1,
        version=data.get("base_version"), note=data.get("note"), detail=data["kind"],
    )


async def _revised(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    proposal_id = UUID(data["proposal_id"])
    row = await connection.fetchrow(
        _REVISED, proposal_id, data["revision"], [UUID(party) for party in data["parties"]],
        data["text"], _moment(data.get("respond_by")), event.recorded_at, event.stream_id,
    )
    return _entry(
        event, row["agreement_id"] if row else None,
        member_id=row["proposed_by"] if row else None,
        proposal_id=proposal_id, revision=data["revision"],
    )


async def _answered(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    proposal_id, member_id = UUID(data["proposal_id"]), UUID(data["member_id"])
    objected = event.event_type == "ObjectionRaised"
    agreement_id = await connection.fetchval(
        _ANSWERED, proposal_id, data["revision"], member_id,
        "objected" if objected else "consented", data.get("reason"), event.recorded_at,
        event.stream_version, event.stream_id,
    )
    return _entry(
        event, agreement_id, member_id=member_id, proposal_id=proposal_id,
        revision=data["revision"], note=data.get("reason"),
    )


async def _commented(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    proposal_id, member_id = UUID(data["proposal_id"]), UUID(data["member_id"])
    agreement_id = await connection.fetchval(
        _COMMENTED, UUID(data["comment_id"]), proposal_id, event.stream_id, member_id,
        data["revision"], data["kind"], data["text"], event.recorded_at, event.stream_version,
    )
    return _entry(
        event, agreement_id, member_id=member_id, proposal_id=proposal_id,
        revision=data["revision"], note=data["text"], detail=data["kind"],
    )


_CLOSING_STATUS = {
    "ProposalRejected": "rejected",
    "ProposalWithdrawn": "withdrawn",
    "ProposalExpired": "expired",
    "ProposalLapsed": "lapsed",
}


async def _closed(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    proposal_id = UUID(data["proposal_id"])
    row = await connection.fetchrow(
        _CLOSED, proposal_id, _CLOSING_STATUS[event.event_type], event.recorded_at,
        event.stream_id,
    )
    return _entry(
        event, row["agreement_id"] if row else None, member_id=_uuid(data.get("member_id")),
        proposal_id=proposal_id, revision=row["revision"] if row else None,
        detail=data.get("reason"),
    )


async def _ratified(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    agreement_id, proposal_id = UUID(data["agreement_id"]), UUID(data["proposal_id"])
    await connection.execute(
        _RATIFIED, event.stream_id, agreement_id, proposal_id, data["revision"],
        data["version"], [UUID(party) for party in data["parties"]], _in_force_moment(event),
        event.stream_version, _moment(data.get("next_review_at")),
    )
    return _entry(
        event, agreement_id, proposal_id=proposal_id, revision=data["revision"],
        version=data["version"],
    )


async def _ended(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    agreement_id, member_id = UUID(data["agreement_id"]), _uuid(data.get("member_id"))
    proposal_id = _uuid(data.get("proposal_id"))
    moment = _in_force_moment(event)
    await connection.execute(
        _ENDED, agreement_id, data["version"], moment, data["reason"], member_id,
        data.get("note"), event.stream_id,
    )
    if proposal_id is not None:
        await connection.execute(_ENDING_RATIFIED, proposal_id, moment, event.stream_id)
    return _entry(
        event, agreement_id, member_id=member_id, proposal_id=proposal_id,
        version=data["version"], note=data.get("note"), detail=data["reason"],
    )


async def _review_began(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    agreement_id = UUID(data["agreement_id"])
    # A scheduled review began when it fell due; a requested one when it was asked for.
    began = _moment(data.get("due_at")) or event.recorded_at
    await connection.execute(_REVIEW_BEGAN, agreement_id, began, event.stream_id)
    return _entry(
        event, agreement_id, member_id=_uuid(data.get("member_id")), version=data["version"],
        note=data.get("note"),
    )


async def _reaffirmed(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    agreement_id, member_id = UUID(data["agreement_id"]), UUID(data["member_id"])
    await connection.execute(_REAFFIRMED, agreement_id, member_id, event.stream_id)
    return _entry(event, agreement_id, member_id=member_id, version=data["version"])


async def _review_completed(connection: Statements, event: RecordedEvent) -> _Entry:
    data = event.data
    agreement_id = UUID(data["agreement_id"])
    await connection.execute(
        _REVIEW_COMPLETED, agreement_id, _moment(data.get("next_review_at")), event.stream_id
    )
    return _entry(event, agreement_id, version=data["version"])


_FOLDS: dict[str, Callable[[Statements, RecordedEvent], Awaitable[_Entry]]] = {
    "AgreementProposed": _proposed,
    "ProposalRevised": _revised,
    "ConsentGiven": _answered,
    "ObjectionRaised": _answered,
    "CommentMade": _commented,
    "ProposalRejected": _closed,
    "ProposalWithdrawn": _closed,
    "ProposalExpired": _closed,
    "ProposalLapsed": _closed,
    "AgreementRatified": _ratified,
    "AgreementEnded": _ended,
    "ReviewBecameDue": _review_began,
    "ReviewRequested": _review_began,
    "AgreementReaffirmed": _reaffirmed,
    "ReviewCompleted": _review_completed,
}


# --- The same rows, folded in memory for a rebuild (projections/in_memory.py) -------------
# Event by event as the statements above, each kind of event in a method of its own.


@dataclass(slots=True)
class _Proposal:
    proposal_id: UUID
    polycule_id: UUID
    agreement_id: UUID
    kind: str
    proposed_by: UUID
    parties: list[UUID]
    revision: int
    text: Any
    note: Any
    base_version: int | None
    respond_by: datetime | None
    status: str
    opened_at: datetime
    opened_in: int
    closed_at: datetime | None
    asks_again: UUID | None


class _Revision(NamedTuple):
    proposal_id: UUID
    revision: int
    parties: list[UUID]
    text: Any
    revised_at: datetime
    polycule_id: UUID


class _Response(NamedTuple):
    proposal_id: UUID
    revision: int
    member_id: UUID
    response: str
    reason: Any
    responded_at: datetime
    responded_in: int
    polycule_id: UUID


class _Comment(NamedTuple):
    comment_id: UUID
    proposal_id: UUID
    polycule_id: UUID
    member_id: UUID
    revision: int
    kind: str
    text: Any
    made_at: datetime
    made_in: int


@dataclass(slots=True)
class _Agreement:
    agreement_id: UUID
    polycule_id: UUID
    version: int
    status: str
    parties: list[UUID]
    category: str
    text: Any
    proposal_id: UUID
    revision: int
    in_force_since: datetime
    established_in: int
    next_review_at: datetime | None
    review_due: bool = False
    review_due_since: datetime | None = None
    reaffirmed_by: list[UUID] = field(default_factory=list)
    open_proposal_id: UUID | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    ended_by: UUID | None = None


@dataclass(slots=True)
class _Version:
    agreement_id: UUID
    version: int
    polycule_id: UUID
    proposal_id: UUID
    revision: int
    parties: list[UUID]
    category: str
    text: Any
    in_force_from: datetime
    in_force_until: datetime | None = None
    ended_how: str | None = None
    ended_by: UUID | None = None
    end_note: Any = None


class _InMemory:
    """What ``Agreements.apply`` leaves in empty tables, event by event."""

    def __init__(self) -> None:
        self.proposals: Keyed[UUID, _Proposal] = Keyed()
        self.revisions: Keyed[tuple[UUID, int], _Revision] = Keyed()
        self.responses: Keyed[tuple[UUID, int], _Response] = Keyed()
        self.comments: Keyed[UUID, _Comment] = Keyed()
        self.agreements: Keyed[UUID, _Agreement] = Keyed()
        self.versions: Keyed[tuple[UUID, int], _Version] = Keyed()
        self.timeline: Keyed[int, _Entry] = Keyed()

    def rows(self) -> Rows:
        return {
            "agreement_proposals": list(self.proposals),
            "proposal_revisions": list(self.revisions),
            "proposal_responses": list(self.responses),
            "proposal_comments": list(self.comments),
            "agreements": list(self.agreements),
            "agreement_versions": list(self.versions),
            "agreement_timeline": list(self.timeline),
        }

    def apply(self, event: RecordedEvent) -> None:
        fold = self._FOLDS.get(event.event_type)
        if fold is not None:
            entry = fold(self, event)
            self.timeline.insert(entry.stream_version, entry)

    def _proposed(self, event: RecordedEvent) -> _Entry:
        data = event.data
        proposal_id, agreement_id = UUID(data["proposal_id"]), UUID(data["agreement_id"])
        proposed_by = UUID(data["proposed_by"])
        parties = [UUID(party) for party in data["parties"]]
        self.proposals.insert(proposal_id, _Proposal(
            proposal_id, event.stream_id, agreement_id, data["kind"], proposed_by, parties,
            1, data["text"], data.get("note"), data.get("base_version"),
            _moment(data.get("respond_by")), "open", event.recorded_at, event.stream_version,
            None, _uuid(data.get("asks_again")),
        ))
        self.revisions.insert((proposal_id, 1), _Revision(
            proposal_id, 1, parties, data["text"], event.recorded_at, event.stream_id
        ))
        agreement = self.agreements.get(agreement_id)
        if agreement is not None:
            agreement.open_proposal_id = proposal_id
        return _entry(
            event, agreement_id, member_id=proposed_by, proposal_id=proposal_id, revision=1,
            version=data.get("base_version"), note=data.get("note"), detail=data["kind"],
        )

    def _revised(self, event: RecordedEvent) -> _Entry:
        data = event.data
        proposal_id, revision = UUID(data["proposal_id"]), data["revision"]
        parties = [UUID(party) for party in data["parties"]]
        proposal = self.proposals.named(proposal_id)
        proposal.revision, proposal.parties, proposal.text = revision, parties, data["text"]
        proposal.respond_by = _moment(data.get("respond_by"))
        self.revisions.insert((proposal_id, revision), _Revision(
            proposal_id, revision, parties, data["text"], event.recorded_at, event.stream_id
        ))
        return _entry(
            event, proposal.agreement_id, member_id=proposal.proposed_by,
            proposal_id=proposal_id, revision=revision,
        )

    def _answered(self, event: RecordedEvent) -> _Entry:
        data = event.data
        proposal_id, member_id = UUID(data["proposal_id"]), UUID(data["member_id"])
        objected = event.event_type == "ObjectionRaised"
        self.responses.insert((proposal_id, event.stream_version), _Response(
            proposal_id, data["revision"], member_id, "objected" if objected else "consented",
            data.get("reason"), event.recorded_at, event.stream_version, event.stream_id,
        ))
        return _entry(
            event, self.proposals.named(proposal_id).agreement_id, member_id=member_id,
            proposal_id=proposal_id, revision=data["revision"], note=data.get("reason"),
        )

    def _commented(self, event: RecordedEvent) -> _Entry:
        data = event.data
        comment_id = UUID(data["comment_id"])
        proposal_id, member_id = UUID(data["proposal_id"]), UUID(data["member_id"])
        self.comments.insert(comment_id, _Comment(
            comment_id, proposal_id, event.stream_id, member_id, data["revision"],
            data["kind"], data["text"], event.recorded_at, event.stream_version,
        ))
        return _entry(
            event, self.proposals.named(proposal_id).agreement_id, member_id=member_id,
            proposal_id=proposal_id, revision=data["revision"], note=data["text"],
            detail=data["kind"],
        )

    def _closed(self, event: RecordedEvent) -> _Entry:
        data = event.data
        proposal_id = UUID(data["proposal_id"])
        proposal = self.proposals.named(proposal_id)
        proposal.status, proposal.closed_at = _CLOSING_STATUS[event.event_type], event.recorded_at
        agreement = self.agreements.get(proposal.agreement_id)
        if agreement is not None and agreement.open_proposal_id == proposal_id:
            agreement.open_proposal_id = None
        return _entry(
            event, proposal.agreement_id, member_id=_uuid(data.get("member_id")),
            proposal_id=proposal_id, revision=proposal.revision, detail=data.get("reason"),
        )

    def _ratified(self, event: RecordedEvent) -> _Entry:
        data = event.data
        agreement_id, proposal_id = UUID(data["agreement_id"]), UUID(data["proposal_id"])
        revision, version = data["revision"], data["version"]
        parties = [UUID(party) for party in data["parties"]]
        at = _in_force_moment(event)
        ratified = self.proposals.get(proposal_id)
        if ratified is not None:
            ratified.status, ratified.closed_at = "ratified", at
        amended = self.versions.get((agreement_id, version - 1))
        if amended is not None:
            amended.in_force_until, amended.ended_how = at, "amended"
        wording = self.revisions.named((proposal_id, revision)).text
        category = wording.get("category") if isinstance(wording, dict) else None
        if not isinstance(category, str):  # the statement's ``text ->> 'category'``
            raise NotFoldedInMemory("a ratified wording without a category")
        self.versions.insert((agreement_id, version), _Version(
            agreement_id, version, event.stream_id, proposal_id, revision, parties, category,
            wording, at,
        ))
        next_review_at = _moment(data.get("next_review_at"))
        agreement = self.agreements.get(agreement_id)
        if agreement is None:
            self.agreements.insert(agreement_id, _Agreement(
                agreement_id, event.stream_id, version, "active", parties, category, wording,
                proposal_id, revision, at, event.stream_version, next_review_at,
            ))
        else:  # ON CONFLICT DO UPDATE: a new version starts a new review clock
            agreement.version, agreement.parties = version, parties
            agreement.category, agreement.text = category, wording
            agreement.proposal_id, agreement.revision = proposal_id, revision
            agreement.in_force_since, agreement.next_review_at = at, next_review_at
            agreement.review_due, agreement.review_due_since = False, None
            agreement.reaffirmed_by, agreement.open_proposal_id = [], None
        return _entry(
            event, agreement_id, proposal_id=proposal_id, revision=revision, version=version,
        )

    def _ended(self, event: RecordedEvent) -> _Entry:
        data = event.data
        agreement_id, member_id = UUID(data["agreement_id"]), _uuid(data.get("member_id"))
        proposal_id = _uuid(data.get("proposal_id"))
        at, reason = _in_force_moment(event), data["reason"]
        agreement = self.agreements.get(agreement_id)
        if agreement is not None:
            agreement.status, agreement.ended_at, agreement.end_reason = "ended", at, reason
            agreement.ended_by, agreement.open_proposal_id = member_id, None
        version = self.versions.get((agreement_id, data["version"]))
        if version is not None:
            version.in_force_until, version.ended_how = at, reason
            version.ended_by, version.end_note = member_id, data.get("note")
        proposal = self.proposals.get(proposal_id) if proposal_id is not None else None
        if proposal is not None:
            proposal.status, proposal.closed_at = "ratified", at
        return _entry(
            event, agreement_id, member_id=member_id, proposal_id=proposal_id,
            version=data["version"], note=data.get("note"), detail=reason,
        )

    def _review_began(self, event: RecordedEvent) -> _Entry:
        data = event.data
        agreement_id = UUID(data["agreement_id"])
        agreement = self.agreements.get(agreement_id)
        if agreement is not None:
            agreement.review_due = True
            agreement.review_due_since = _moment(data.get("due_at")) or event.recorded_at
            agreement.reaffirmed_by = []
        return _entry(
            event, agreement_id, member_id=_uuid(data.get("member_id")),
            version=data["version"], note=data.get("note"),
        )

    def _reaffirmed(self, event: RecordedEvent) -> _Entry:
        data = event.data
        agreement_id, member_id = UUID(data["agreement_id"]), UUID(data["member_id"])
        agreement = self.agreements.get(agreement_id)
        if agreement is not None and member_id not in agreement.reaffirmed_by:
            agreement.reaffirmed_by = [*agreement.reaffirmed_by, member_id]
        return _entry(event, agreement_id, member_id=member_id, version=data["version"])

    def _review_completed(self, event: RecordedEvent) -> _Entry:
        data = event.data
        agreement_id = UUID(data["agreement_id"])
        agreement = self.agreements.get(agreement_id)
        if agreement is not None:
            agreement.review_due, agreement.review_due_since = False, None
            agreement.reaffirmed_by = []
            agreement.next_review_at = _moment(data.get("next_review_at"))
        return _entry(event, agreement_id, version=data["version"])

    _FOLDS: dict[str, Callable[[_InMemory, RecordedEvent], _Entry]] = {
        "AgreementProposed": _proposed,
        "ProposalRevised": _revised,
        "ConsentGiven": _answered,
        "ObjectionRaised": _answered,
        "CommentMade": _commented,
        "ProposalRejected": _closed,
        "ProposalWithdrawn": _closed,
        "ProposalExpired": _closed,
        "ProposalLapsed": _closed,
        "AgreementRatified": _ratified,
        "AgreementEnded": _ended,
        "ReviewBecameDue": _review_began,
        "ReviewRequested": _review_began,
        "AgreementReaffirmed": _reaffirmed,
        "ReviewCompleted": _review_completed,
    }


class Agreements:
    name = "agreements"
    tables = (
        "agreement_proposals", "proposal_revisions", "proposal_responses",
        "proposal_comments", "agreements", "agreement_versions", "agreement_timeline",
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
        folded = _InMemory()
        for event in events:
            folded.apply(event)
        return folded.rows()

    async def forget(self, connection: Connection, polycule_ids: Sequence[UUID]) -> None:
        await connection.execute(_FORGET, list(polycule_ids))
