"""Reading the agreements read model: what the agreements' screens ask of it.

A polycule's agreements in force and its open proposals with each party's answer; an
agreement's complete history; what was in force at any past moment. Texts come back
sealed, as the read model keeps them; the HTTP layer opens them for the member who asked.
What a member's inbox asks of this read model is in projections/inbox.py (which reads
proposals and agreements with the columns and row builders kept here), what the scheduler
asks in projections/schedule.py.

Answers may change while a proposal is open, and every answer is kept: a member's current
answer to a revision is the last one they gave it (``last_answers``, the decider's rule),
and who still has to answer is every party without one (``awaited``, the same module's);
histories list every answer in the order given. A proposal is read with its conversation,
every question and comment members made about it, in the order made.

Each row names its fields once: the queries' columns carry the same names (``AS`` where the
table's differ), so a record becomes a row by name (``row_of``), and its view in the API is
built from it by pydantic (ledger/http/agreement_shapes.py). A ``Sealed`` field keeps words
as the event had them, for whoever shows them to open.

The rows are written by projections/agreements.py; tables and indexes:
ledger/store/migrations/0006_agreements.sql, 0010_answers_may_change.sql for the
answers and 0017_proposal_comments.sql for the conversation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import asyncpg

from ledger.domain.agreements import awaited, last_answers
from ledger.text_marks import Sealed
from projections.reading import row_of, snapshot

if TYPE_CHECKING:
    from ledger.database import Executor

Response = Literal["consented", "objected"]


@dataclass(frozen=True)
class ResponseRow:
    proposal_id: UUID
    member_id: UUID
    # The revision answered.
    revision: int
    response: Response
    # An objection's reason; None for a consent.
    reason: Sealed | None
    at: datetime


@dataclass(frozen=True)
class CommentRow:
    comment_id: UUID
    member_id: UUID
    # The revision the member was reading when they wrote it.
    revision: int
    kind: Literal["question", "comment"]
    # Sealed under its author's key.
    text: Sealed
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
    # None for a proposal to end an agreement.
    text: Sealed | None
    note: Sealed | None
    base_version: int | None
    respond_by: datetime | None
    # The closed proposal this one asks again, if it does.
    asks_again: UUID | None
    status: Literal["open", "ratified", "rejected", "withdrawn", "expired", "lapsed"]
    opened_at: datetime
    closed_at: datetime | None
    # Each member's current answer to the current revision (the last one they gave it), in
    # the order those were given.
    responses: tuple[ResponseRow, ...]
    # Every answer to every revision, in the order given: a changed answer keeps its
    # earlier one before it.
    answers: tuple[ResponseRow, ...]
    # Every question and comment about it, in the order made.
    comments: tuple[CommentRow, ...] = ()

    @property
    def awaiting(self) -> tuple[UUID, ...]:
        """The parties who still have to answer (none once it is closed)."""
        return awaited(self)


@dataclass(frozen=True)
class AgreementRow:
    polycule_id: UUID
    agreement_id: UUID
    version: int
    status: Literal["active", "ended"]
    parties: tuple[UUID, ...]
    category: str
    # The version in force (or the last one, once ended).
    text: Sealed
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
    text: Sealed
    in_force_from: datetime
    # None while in force; the interval is half-open, [in_force_from, in_force_until).
    in_force_until: datetime | None
    ended_how: Literal["amended", "revoked", "party_left", "ended_by_proposal"] | None
    ended_by: UUID | None
    end_note: Sealed | None
    # Every party's consent to the revision that became this version.
    consents: tuple[ResponseRow, ...]


@dataclass(frozen=True)
class RevisionRow:
    proposal_id: UUID
    revision: int
    parties: tuple[UUID, ...]
    text: Sealed | None
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
    # An objection's reason, a question's or a comment's words, or the note of an ending or
    # of a request for review.
    note: Sealed | None
    # A proposal's kind, why an agreement ended or a proposal lapsed, or whether words
    # about a proposal are a question or a comment.
    detail: str | None


@dataclass(frozen=True)
class AgreementHistory:
    agreement: AgreementRow
    versions: tuple[VersionRow, ...]
    # In the order they were made, the one that created the agreement first.
    proposals: tuple[ProposalHistory, ...]
    timeline: tuple[TimelineEntry, ...]


# An agreement's and a proposal's columns, in their rows' order (agreement_row,
# proposal_row), here and in projections/inbox.py.
AGREEMENT_COLUMNS = """
a.polycule_id, a.agreement_id, a.version, a.status, a.parties, a.category, a.text,
a.in_force_since, a.next_review_at, a.review_due, a.review_due_since, a.reaffirmed_by,
a.open_proposal_id, a.ended_at, a.end_reason, a.ended_by
"""
PROPOSAL_COLUMNS = """
p.polycule_id, p.proposal_id, p.agreement_id, p.kind, p.proposed_by, p.parties, p.revision,
p.text, p.note, p.base_version, p.respond_by, p.asks_again, p.status, p.opened_at,
p.closed_at
"""
# A proposal with every answer to it, in the order given, and every question and comment
# about it, in the order made, in the same row (and so read in the same snapshot): one
# round trip for a proposal or a list of them. Each answer's and each comment's fields
# arrive as parallel arrays, NULL while there is none (``proposal_row``). Indexes:
# proposal_responses_pkey and proposal_comments_of_proposal, once per proposal.
PROPOSALS_WITH_ANSWERS = f"""
SELECT {PROPOSAL_COLUMNS}, a.answer_members, a.answer_revisions, a.answer_responses,
       a.answer_reasons, a.answer_ats, c.comment_ids, c.comment_members,
       c.comment_revisions, c.comment_kinds, c.comment_texts, c.comment_ats
  FROM agreement_proposals p
  CROSS JOIN LATERAL (
       SELECT array_agg(r.member_id ORDER BY r.responded_in) AS answer_members,
              array_agg(r.revision ORDER BY r.responded_in) AS answer_revisions,
              array_agg(r.response ORDER BY r.responded_in) AS answer_responses,
              array_agg(r.reason ORDER BY r.responded_in) AS answer_reasons,
              array_agg(r.responded_at ORDER BY r.responded_in) AS answer_ats
         FROM proposal_responses r
        WHERE r.proposal_id = p.proposal_id AND r.polycule_id = p.polycule_id) a
  CROSS JOIN LATERAL (
       SELECT array_agg(m.comment_id ORDER BY m.made_in) AS comment_ids,
              array_agg(m.member_id ORDER BY m.made_in) AS comment_members,
              array_agg(m.revision ORDER BY m.made_in) AS comment_revisions,
              array_agg(m.kind ORDER BY m.made_in) AS comment_kinds,
              array_agg(m.text ORDER BY m.made_in) AS comment_texts,
              array_agg(m.made_at ORDER BY m.made_in) AS comment_ats
         FROM proposal_comments m
        WHERE m.proposal_id = p.proposal_id AND m.polycule_id = p.polycule_id) c
"""
_ANSWER_COLUMNS = (
    "answer_members", "answer_revisions", "answer_responses", "answer_reasons", "answer_ats",
)
_COMMENT_COLUMNS = (
    "comment_ids", "comment_members", "comment_revisions", "comment_kinds", "comment_texts",
    "comment_ats",
)
_VERSION_COLUMNS = """
v.agreement_id, v.version, v.proposal_id, v.revision, v.parties, v.category, v.text,
v.in_force_from, v.in_force_until, v.ended_how, v.ended_by, v.end_note
"""

# Index: agreements_active.
CURRENT_AGREEMENTS = f"""
SELECT {AGREEMENT_COLUMNS} FROM agreements a
 WHERE a.polycule_id = $1 AND a.status = 'active'
 ORDER BY a.established_in
"""
# Index: agreements_pkey.
AGREEMENT = f"""
SELECT {AGREEMENT_COLUMNS} FROM agreements a
 WHERE a.agreement_id = $2 AND a.polycule_id = $1
"""
# Index: agreement_proposals_open.
OPEN_PROPOSALS = f"""
{PROPOSALS_WITH_ANSWERS}
 WHERE p.polycule_id = $1 AND p.status = 'open'
 ORDER BY p.opened_in
"""
# Index: agreement_proposals_pkey.
PROPOSAL = f"""
{PROPOSALS_WITH_ANSWERS}
 WHERE p.proposal_id = $2 AND p.polycule_id = $1
"""
# The answers to many revisions at once (the consents that made versions). Index:
# proposal_responses_to_revision, once per revision asked for.
RESPONSES_TO = """
SELECT r.proposal_id, r.revision, r.member_id, r.response, r.reason, r.responded_at AS at
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
{PROPOSALS_WITH_ANSWERS}
 WHERE p.agreement_id = $2 AND p.polycule_id = $1
 ORDER BY p.opened_in
"""
# Index: agreement_proposals_of_agreement, then proposal_revisions_pkey.
REVISIONS_OF_AGREEMENT = """
SELECT r.proposal_id, r.revision, r.parties, r.text, r.revised_at AS at
  FROM agreement_proposals p JOIN proposal_revisions r USING (polycule_id, proposal_id)
 WHERE p.agreement_id = $2 AND p.polycule_id = $1
 ORDER BY p.opened_in, r.revision
"""
# One revision of one of the polycule's proposals (what a later revision changed from).
# Index: agreement_proposals_pkey, then proposal_revisions_pkey.
REVISION = """
SELECT r.proposal_id, r.revision, r.parties, r.text, r.revised_at AS at
  FROM agreement_proposals p JOIN proposal_revisions r USING (polycule_id, proposal_id)
 WHERE p.proposal_id = $2 AND p.polycule_id = $1 AND r.revision = $3
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
async def current_agreements(executor: Executor, polycule_id: UUID) -> list[AgreementRow]:
    """The polycule's agreements in force, oldest first."""
    return [agreement_row(row) for row in await executor.fetch(CURRENT_AGREEMENTS, polycule_id)]


async def agreement(
    executor: Executor, polycule_id: UUID, agreement_id: UUID
) -> AgreementRow | None:
    """One agreement of the polycule, in force or ended."""
    row = await executor.fetchrow(AGREEMENT, polycule_id, agreement_id)
    return agreement_row(row) if row is not None else None


async def open_proposals(executor: Executor, polycule_id: UUID) -> list[ProposalRow]:
    """The polycule's open proposals in the order they were made, each with its answers."""
    return [proposal_row(row) for row in await executor.fetch(OPEN_PROPOSALS, polycule_id)]


async def proposal(
    executor: Executor, polycule_id: UUID, proposal_id: UUID
) -> ProposalRow | None:
    row = await executor.fetchrow(PROPOSAL, polycule_id, proposal_id)
    return proposal_row(row) if row is not None else None


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
            proposal_row(p) for p in await connection.fetch(PROPOSALS_OF_AGREEMENT, *key)
        ]
        revisions = await connection.fetch(REVISIONS_OF_AGREEMENT, *key)
        timeline = await connection.fetch(TIMELINE_OF_AGREEMENT, *key)
    answers = {p.proposal_id: p.answers for p in proposals}
    return AgreementHistory(
        agreement=agreement_row(row),
        versions=tuple(
            row_of(VersionRow, v, consents=last_answers(
                answers.get(v["proposal_id"], ()), v["revision"]
            ))
            for v in versions
        ),
        proposals=tuple(
            ProposalHistory(
                proposal=p,
                revisions=tuple(
                    row_of(RevisionRow, r, responses=tuple(
                        answer for answer in p.answers if answer.revision == r["revision"]
                    ))
                    for r in revisions
                    if r["proposal_id"] == p.proposal_id
                ),
            )
            for p in proposals
        ),
        timeline=tuple(row_of(TimelineEntry, t) for t in timeline),
    )


async def version(
    executor: Executor, polycule_id: UUID, agreement_id: UUID, version: int
) -> VersionRow | None:
    row = await executor.fetchrow(VERSION, polycule_id, agreement_id, version)
    if row is None:
        return None
    [found] = await _versions_with_consents(executor, [row])
    return found


async def revision(
    executor: Executor, polycule_id: UUID, proposal_id: UUID, revision: int
) -> RevisionRow | None:
    """One revision of a proposal of the polycule, without its answers."""
    row = await executor.fetchrow(REVISION, polycule_id, proposal_id, revision)
    return row_of(RevisionRow, row, responses=()) if row is not None else None


async def in_force_at(
    executor: Executor, polycule_id: UUID, at: datetime, between: Sequence[UUID] = ()
) -> list[VersionRow]:
    """The versions in force in the polycule at ``at``; with ``between``, only those that
    bind every one of those members."""
    rows = await executor.fetch(IN_FORCE_AT, polycule_id, at, list(between))
    return await _versions_with_consents(executor, rows)


# --- From rows to answers ----------------------------------------------------------------


def _by_proposal(rows: Iterable[asyncpg.Record]) -> dict[UUID, tuple[ResponseRow, ...]]:
    """Each proposal's answers, in the order of ``rows``."""
    grouped: dict[UUID, list[ResponseRow]] = {}
    for row in rows:
        grouped.setdefault(row["proposal_id"], []).append(row_of(ResponseRow, row))
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
        row_of(VersionRow, row, consents=last_answers(
            answers.get(row["proposal_id"], ()), row["revision"]
        ))
        for row in rows
    ]


def proposal_row(row: asyncpg.Record) -> ProposalRow:
    """The proposal of ``row`` (read with PROPOSALS_WITH_ANSWERS), with its answers and its
    conversation."""
    columns = dict(row)
    answers = tuple(
        ResponseRow(proposal_id=row["proposal_id"], member_id=member_id, revision=revision,
                    response=response, reason=reason, at=at)
        for member_id, revision, response, reason, at in zip(
            *(columns.pop(name) or () for name in _ANSWER_COLUMNS), strict=True
        )
    )
    comments = tuple(
        CommentRow(comment_id=comment_id, member_id=member_id, revision=revision, kind=kind,
                   text=text, at=at)
        for comment_id, member_id, revision, kind, text, at in zip(
            *(columns.pop(name) or () for name in _COMMENT_COLUMNS), strict=True
        )
    )
    fields: dict[str, Any] = {
        name: tuple(value) if type(value) is list else value for name, value in columns.items()
    }
    return ProposalRow(
        **fields, responses=last_answers(answers, row["revision"]), answers=answers,
        comments=comments,
    )


def agreement_row(row: asyncpg.Record) -> AgreementRow:
    """The agreement of ``row`` (read with AGREEMENT_COLUMNS)."""
    return row_of(AgreementRow, row)

