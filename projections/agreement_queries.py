"""Reading the agreements read model: what the screens and the scheduler ask of it.

A polycule's agreements in force and its open proposals with each party's answer; a
member's inbox across their polycules; an agreement's complete history; what was in force
at any past moment; and, for the scheduler, which reviews have come due and which
deadlines have passed. Texts come back sealed, as the read model keeps them; the HTTP
layer opens them for the member who asked.

Answers may change while a proposal is open, and every answer is kept: a member's current
answer to a revision is the last one they gave it (``last_answers``, the decider's rule);
histories list every answer in the order given.

The rows are written by projections/agreements.py; tables and indexes:
ledger/store/migrations/0006_agreements.sql, and 0010_answers_may_change.sql for the
answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from uuid import UUID

import asyncpg

from ledger.domain.agreements import last_answers
from ledger.store.records import JsonObject
from projections.reading import snapshot

if TYPE_CHECKING:
    from ledger.database import Executor

Response = Literal["consented", "objected"]


@dataclass(frozen=True)
class ResponseRow:
    member_id: UUID
    # The revision answered.
    revision: int
    response: Response
    # An objection's reason, sealed; None for a consent.
    reason: JsonObject | None
    at: datetime


@dataclass(frozen=True)
class ProposalRow:
    polycule_id: UUID
    proposal_id: UUID
    agreement_id: UUID
    kind: Literal["create", "amend", "end"]
    proposed_by: UUID
    parties: tuple[UUID, ...]
    revision: int
    # Sealed, as in the event; None for a proposal to end an agreement.
    text: JsonObject | None
    note: JsonObject | None
    base_version: int | None
    respond_by: datetime | None
    status: Literal["open", "ratified", "rejected", "withdrawn", "expired", "lapsed"]
    opened_at: datetime
    closed_at: datetime | None
    # Each member's current answer to the current revision (the last one they gave it), in
    # the order those were given.
    responses: tuple[ResponseRow, ...]
    # Every answer to every revision, in the order given: a changed answer keeps its
    # earlier one before it.
    answers: tuple[ResponseRow, ...]


@dataclass(frozen=True)
class AgreementRow:
    polycule_id: UUID
    agreement_id: UUID
    version: int
    status: Literal["active", "ended"]
    parties: tuple[UUID, ...]
    category: str
    # The version in force (or the last one, once ended), sealed.
    text: JsonObject
    in_force_since: datetime
    next_review_at: datetime | None
    review_due: bool
    review_due_since: datetime | None
    reaffirmed_by: tuple[UUID, ...]
    open_proposal_id: UUID | None
    ended_at: datetime | None
    end_reason: Literal["revoked", "party_left", "ended_by_proposal"] | None
    ended_by: UUID | None


@dataclass(frozen=True)
class VersionRow:
    agreement_id: UUID
    version: int
    proposal_id: UUID
    revision: int
    parties: tuple[UUID, ...]
    category: str
    text: JsonObject
    in_force_from: datetime
    # None while in force; the interval is half-open, [in_force_from, in_force_until).
    in_force_until: datetime | None
    ended_how: Literal["amended", "revoked", "party_left", "ended_by_proposal"] | None
    ended_by: UUID | None
    end_note: JsonObject | None
    # Every party's consent to the revision that became this version.
    consents: tuple[ResponseRow, ...]


@dataclass(frozen=True)
class RevisionRow:
    proposal_id: UUID
    revision: int
    parties: tuple[UUID, ...]
    text: JsonObject | None
    at: datetime
    # Every answer to this revision, in the order given, changed answers included.
    responses: tuple[ResponseRow, ...]


@dataclass(frozen=True)
class ProposalHistory:
    proposal: ProposalRow
    revisions: tuple[RevisionRow, ...]


@dataclass(frozen=True)
class TimelineEntry:
    stream_version: int
    at: datetime
    # The event type: AgreementProposed, ConsentGiven, AgreementEnded, …
    what: str
    member_id: UUID | None
    proposal_id: UUID | None
    revision: int | None
    version: int | None
    # An objection's reason, or the note of an ending or of a request for review, sealed.
    note: JsonObject | None
    # A proposal's kind, or why an agreement ended or a proposal lapsed.
    detail: str | None


@dataclass(frozen=True)
class AgreementHistory:
    agreement: AgreementRow
    versions: tuple[VersionRow, ...]
    # In the order they were made, the one that created the agreement first.
    proposals: tuple[ProposalHistory, ...]
    timeline: tuple[TimelineEntry, ...]


@dataclass(frozen=True)
class Inbox:
    # Open proposals that bind the member and wait for their answer to the current revision.
    awaiting_response: list[ProposalRow]
    # Agreements under review that the member has not reaffirmed yet.
    reviews_due: list[AgreementRow]


_AGREEMENT_COLUMNS = """
a.polycule_id, a.agreement_id, a.version, a.status, a.parties, a.category, a.text,
a.in_force_since, a.next_review_at, a.review_due, a.review_due_since, a.reaffirmed_by,
a.open_proposal_id, a.ended_at, a.end_reason, a.ended_by
"""
_PROPOSAL_COLUMNS = """
p.polycule_id, p.proposal_id, p.agreement_id, p.kind, p.proposed_by, p.parties, p.revision,
p.text, p.note, p.base_version, p.respond_by, p.status, p.opened_at, p.closed_at
"""
# A proposal with every answer to it, in the order given, in the same row (and so read in
# the same snapshot): one round trip for a proposal or a list of them. Each answer's
# fields arrive as parallel arrays (NULL when there is none yet). Index:
# proposal_responses_pkey, once per proposal.
_PROPOSALS_WITH_ANSWERS = f"""
SELECT {_PROPOSAL_COLUMNS}, a.members, a.revisions, a.responses, a.reasons, a.ats
  FROM agreement_proposals p
  CROSS JOIN LATERAL (
       SELECT array_agg(r.member_id ORDER BY r.responded_in) AS members,
              array_agg(r.revision ORDER BY r.responded_in) AS revisions,
              array_agg(r.response ORDER BY r.responded_in) AS responses,
              array_agg(r.reason ORDER BY r.responded_in) AS reasons,
              array_agg(r.responded_at ORDER BY r.responded_in) AS ats
         FROM proposal_responses r
        WHERE r.proposal_id = p.proposal_id) a
"""
_VERSION_COLUMNS = """
v.agreement_id, v.version, v.proposal_id, v.revision, v.parties, v.category, v.text,
v.in_force_from, v.in_force_until, v.ended_how, v.ended_by, v.end_note
"""

# Index: agreements_active.
CURRENT_AGREEMENTS = f"""
SELECT {_AGREEMENT_COLUMNS} FROM agreements a
 WHERE a.polycule_id = $1 AND a.status = 'active'
 ORDER BY a.established_in
"""
# Index: agreements_pkey.
AGREEMENT = f"""
SELECT {_AGREEMENT_COLUMNS} FROM agreements a
 WHERE a.agreement_id = $2 AND a.polycule_id = $1
"""
# Index: agreement_proposals_open.
OPEN_PROPOSALS = f"""
{_PROPOSALS_WITH_ANSWERS}
 WHERE p.polycule_id = $1 AND p.status = 'open'
 ORDER BY p.opened_in
"""
# Index: agreement_proposals_pkey.
PROPOSAL = f"""
{_PROPOSALS_WITH_ANSWERS}
 WHERE p.proposal_id = $2 AND p.polycule_id = $1
"""
# The answers to many revisions at once (the consents that made versions). Index:
# proposal_responses_to_revision, once per revision asked for.
RESPONSES_TO = """
SELECT r.proposal_id, r.revision, r.member_id, r.response, r.reason, r.responded_at
  FROM unnest($1::uuid[], $2::integer[]) AS asked (proposal_id, revision)
  JOIN proposal_responses r USING (proposal_id, revision)
 ORDER BY r.responded_in
"""
# Index: agreement_versions_pkey.
VERSIONS_OF_AGREEMENT = f"""
SELECT {_VERSION_COLUMNS} FROM agreement_versions v
 WHERE v.agreement_id = $2 AND v.polycule_id = $1
 ORDER BY v.version
"""
# Index: agreement_versions_pkey.
VERSION = f"""
SELECT {_VERSION_COLUMNS} FROM agreement_versions v
 WHERE v.agreement_id = $2 AND v.version = $3 AND v.polycule_id = $1
"""
# Index: agreement_proposals_of_agreement.
PROPOSALS_OF_AGREEMENT = f"""
{_PROPOSALS_WITH_ANSWERS}
 WHERE p.agreement_id = $2 AND p.polycule_id = $1
 ORDER BY p.opened_in
"""
# Index: agreement_proposals_of_agreement, then proposal_revisions_pkey.
REVISIONS_OF_AGREEMENT = """
SELECT r.proposal_id, r.revision, r.parties, r.text, r.revised_at
  FROM agreement_proposals p JOIN proposal_revisions r USING (proposal_id)
 WHERE p.agreement_id = $2 AND p.polycule_id = $1
 ORDER BY p.opened_in, r.revision
"""
# Index: agreement_timeline_of_agreement.
TIMELINE_OF_AGREEMENT = """
SELECT t.stream_version, t.at, t.what, t.member_id, t.proposal_id, t.revision, t.version,
       t.note, t.detail
  FROM agreement_timeline t
 WHERE t.agreement_id = $2 AND t.polycule_id = $1
 ORDER BY t.stream_version
"""
# Index: agreement_versions_in_force. `parties @> '{}'` holds for every version.
IN_FORCE_AT = f"""
SELECT {_VERSION_COLUMNS} FROM agreement_versions v
 WHERE v.polycule_id = $1 AND v.in_force_from <= $2
   AND (v.in_force_until IS NULL OR $2 < v.in_force_until)
   AND v.parties @> $3::uuid[]
 ORDER BY v.in_force_from, v.agreement_id
"""
# Awaiting the member: they have given the current revision no answer at all (an answer,
# once given, stays their answer until they give another). Index: memberships_of_member,
# then agreement_proposals_open per polycule and proposal_responses_to_revision.
AWAITING_RESPONSE = f"""
{_PROPOSALS_WITH_ANSWERS}
  JOIN memberships m ON m.polycule_id = p.polycule_id
 WHERE m.member_id = $1 AND m.left_at IS NULL AND p.status = 'open'
   AND $1 = ANY (p.parties)
   AND NOT EXISTS (SELECT FROM proposal_responses r
                    WHERE r.proposal_id = p.proposal_id AND r.revision = p.revision
                      AND r.member_id = $1)
 ORDER BY p.opened_at, p.proposal_id
"""
# Index: memberships_of_member, then agreements_active per polycule.
REVIEWS_DUE = f"""
SELECT {_AGREEMENT_COLUMNS}
  FROM memberships m
  JOIN agreements a ON a.polycule_id = m.polycule_id AND a.status = 'active'
 WHERE m.member_id = $1 AND m.left_at IS NULL
   AND a.review_due AND $1 = ANY (a.parties) AND NOT $1 = ANY (a.reaffirmed_by)
 ORDER BY a.review_due_since, a.agreement_id
"""
# Index: agreements_review_clock.
DUE_REVIEWS = """
SELECT polycule_id, agreement_id, version FROM agreements
 WHERE status = 'active' AND NOT review_due AND next_review_at <= $1
 ORDER BY next_review_at
"""
# Index: agreement_proposals_deadline.
EXPIRED_PROPOSALS = """
SELECT polycule_id, proposal_id FROM agreement_proposals
 WHERE status = 'open' AND respond_by <= $1
 ORDER BY respond_by
"""


async def current_agreements(executor: Executor, polycule_id: UUID) -> list[AgreementRow]:
    """The polycule's agreements in force, oldest first."""
    return [_agreement(row) for row in await executor.fetch(CURRENT_AGREEMENTS, polycule_id)]


async def agreement(
    executor: Executor, polycule_id: UUID, agreement_id: UUID
) -> AgreementRow | None:
    """One agreement of the polycule, in force or ended."""
    row = await executor.fetchrow(AGREEMENT, polycule_id, agreement_id)
    return _agreement(row) if row is not None else None


async def open_proposals(executor: Executor, polycule_id: UUID) -> list[ProposalRow]:
    """The polycule's open proposals in the order they were made, each with its answers."""
    return [_proposal(row) for row in await executor.fetch(OPEN_PROPOSALS, polycule_id)]


async def proposal(
    executor: Executor, polycule_id: UUID, proposal_id: UUID
) -> ProposalRow | None:
    row = await executor.fetchrow(PROPOSAL, polycule_id, proposal_id)
    return _proposal(row) if row is not None else None


async def agreement_history(
    executor: Executor, polycule_id: UUID, agreement_id: UUID
) -> AgreementHistory | None:
    """Everything that happened to an agreement, from the proposal that created it on."""
    async with snapshot(executor) as connection:
        row = await connection.fetchrow(AGREEMENT, polycule_id, agreement_id)
        if row is None:
            return None
        key = (polycule_id, agreement_id)
        versions = await connection.fetch(VERSIONS_OF_AGREEMENT, *key)
        proposals = [
            _proposal(p) for p in await connection.fetch(PROPOSALS_OF_AGREEMENT, *key)
        ]
        revisions = await connection.fetch(REVISIONS_OF_AGREEMENT, *key)
        timeline = await connection.fetch(TIMELINE_OF_AGREEMENT, *key)
    answers = {p.proposal_id: p.answers for p in proposals}
    return AgreementHistory(
        agreement=_agreement(row),
        versions=tuple(
            _version(v, last_answers(answers.get(v["proposal_id"], ()), v["revision"]))
            for v in versions
        ),
        proposals=tuple(
            ProposalHistory(
                proposal=p,
                revisions=tuple(
                    _revision(r, tuple(
                        answer for answer in p.answers if answer.revision == r["revision"]
                    ))
                    for r in revisions
                    if r["proposal_id"] == p.proposal_id
                ),
            )
            for p in proposals
        ),
        timeline=tuple(_timeline_entry(t) for t in timeline),
    )


async def version(
    executor: Executor, polycule_id: UUID, agreement_id: UUID, version: int
) -> VersionRow | None:
    row = await executor.fetchrow(VERSION, polycule_id, agreement_id, version)
    if row is None:
        return None
    [found] = await _versions_with_consents(executor, [row])
    return found


async def in_force_at(
    executor: Executor, polycule_id: UUID, at: datetime, between: Sequence[UUID] = ()
) -> list[VersionRow]:
    """The versions in force in the polycule at ``at``; with ``between``, only those that
    bind every one of those members."""
    rows = await executor.fetch(IN_FORCE_AT, polycule_id, at, list(between))
    return await _versions_with_consents(executor, rows)


async def inbox(executor: Executor, member_id: UUID) -> Inbox:
    """What waits for the member in every polycule they belong to now."""
    awaiting = await executor.fetch(AWAITING_RESPONSE, member_id)
    reviews = await executor.fetch(REVIEWS_DUE, member_id)
    return Inbox(
        awaiting_response=[_proposal(row) for row in awaiting],
        reviews_due=[_agreement(row) for row in reviews],
    )


async def due_reviews(executor: Executor, now: datetime) -> list[tuple[UUID, UUID, int]]:
    """(polycule, agreement, version) of agreements in force whose review date has come."""
    rows = await executor.fetch(DUE_REVIEWS, now)
    return [(row["polycule_id"], row["agreement_id"], row["version"]) for row in rows]


async def expired_proposals(executor: Executor, now: datetime) -> list[tuple[UUID, UUID]]:
    """(polycule, proposal) of open proposals whose deadline to respond has passed."""
    rows = await executor.fetch(EXPIRED_PROPOSALS, now)
    return [(row["polycule_id"], row["proposal_id"]) for row in rows]


# --- From rows to answers ----------------------------------------------------------------


def _by_proposal(rows: Iterable[asyncpg.Record]) -> dict[UUID, tuple[ResponseRow, ...]]:
    """Each proposal's answers, in the order of ``rows``."""
    grouped: dict[UUID, list[ResponseRow]] = {}
    for row in rows:
        grouped.setdefault(row["proposal_id"], []).append(ResponseRow(
            member_id=row["member_id"],
            revision=row["revision"],
            response=row["response"],
            reason=row["reason"],
            at=row["responded_at"],
        ))
    return {proposal_id: tuple(answers) for proposal_id, answers in grouped.items()}


async def _versions_with_consents(
    executor: Executor, rows: Sequence[asyncpg.Record]
) -> list[VersionRow]:
    if not rows:
        return []
    answers = _by_proposal(await executor.fetch(
        RESPONSES_TO, [row["proposal_id"] for row in rows], [row["revision"] for row in rows]
    ))
    return [
        _version(row, last_answers(answers.get(row["proposal_id"], ()), row["revision"]))
        for row in rows
    ]


def _proposal(row: asyncpg.Record) -> ProposalRow:
    """A row of ``_PROPOSALS_WITH_ANSWERS``: the proposal and its answers."""
    answers = tuple(
        ResponseRow(member_id=member_id, revision=revision, response=response, reason=reason,
                    at=at)
        for member_id, revision, response, reason, at in zip(
            row["members"] or (), row["revisions"] or (), row["responses"] or (),
            row["reasons"] or (), row["ats"] or (), strict=True,
        )
    )
    return ProposalRow(
        polycule_id=row["polycule_id"],
        proposal_id=row["proposal_id"],
        agreement_id=row["agreement_id"],
        kind=row["kind"],
        proposed_by=row["proposed_by"],
        parties=tuple(row["parties"]),
        revision=row["revision"],
        text=row["text"],
        note=row["note"],
        base_version=row["base_version"],
        respond_by=row["respond_by"],
        status=row["status"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        responses=last_answers(answers, row["revision"]),
        answers=answers,
    )


def _agreement(row: asyncpg.Record) -> AgreementRow:
    return AgreementRow(
        polycule_id=row["polycule_id"],
        agreement_id=row["agreement_id"],
        version=row["version"],
        status=row["status"],
        parties=tuple(row["parties"]),
        category=row["category"],
        text=row["text"],
        in_force_since=row["in_force_since"],
        next_review_at=row["next_review_at"],
        review_due=row["review_due"],
        review_due_since=row["review_due_since"],
        reaffirmed_by=tuple(row["reaffirmed_by"]),
        open_proposal_id=row["open_proposal_id"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
        ended_by=row["ended_by"],
    )


def _version(row: asyncpg.Record, consents: tuple[ResponseRow, ...]) -> VersionRow:
    return VersionRow(
        agreement_id=row["agreement_id"],
        version=row["version"],
        proposal_id=row["proposal_id"],
        revision=row["revision"],
        parties=tuple(row["parties"]),
        category=row["category"],
        text=row["text"],
        in_force_from=row["in_force_from"],
        in_force_until=row["in_force_until"],
        ended_how=row["ended_how"],
        ended_by=row["ended_by"],
        end_note=row["end_note"],
        consents=consents,
    )


def _revision(row: asyncpg.Record, responses: tuple[ResponseRow, ...]) -> RevisionRow:
    return RevisionRow(
        proposal_id=row["proposal_id"],
        revision=row["revision"],
        parties=tuple(row["parties"]),
        text=row["text"],
        at=row["revised_at"],
        responses=responses,
    )


def _timeline_entry(row: asyncpg.Record) -> TimelineEntry:
    return TimelineEntry(
        stream_version=row["stream_version"],
        at=row["at"],
        what=row["what"],
        member_id=row["member_id"],
        proposal_id=row["proposal_id"],
        revision=row["revision"],
        version=row["version"],
        note=row["note"],
        detail=row["detail"],
    )

