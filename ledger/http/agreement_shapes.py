"""The shapes of the agreements API: what members send and what they read back.

Read models keep every text sealed; ``opened_*`` here show a row as its view, its words
opened for the member who asked (the authorization middleware has already decided they may
read it), with what is derived on reading, such as the clarity check's fuzzy words. A view
names the fields it shares with its row (projections/agreement_queries.py) and no code
copies them: pydantic does (ledger/http/shapes.py, ``opened``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, RootModel, field_validator, model_validator

from ledger.domain.agreements import (
    AgreementText,
    Category,
    CommentKind,
    Definition,
    ProposalKind,
    ProposalStatus,
)
from ledger.http.parsing import INTEGER_MAX
from ledger.http.shapes import Strict, opened
from ledger.privacy import KeyRing, decrypt_event_fields
from ledger.wording import word_diff
from projections.agreement_queries import (
    AgreementRow,
    ProposalRow,
    RevisionRow,
    TimelineEntry,
    VersionRow,
)

# One or more ids, separated by commas (spaces around each are forgiven).
_ID = r"\s*[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\s*"
_MEMBER_IDS = rf"^{_ID}(,{_ID})*$"

Parties = Annotated[list[UUID], Field(min_length=1, max_length=100)]

# --- What members send -------------------------------------------------------------------


class DefinitionBody(Strict):
    word: str = Field(min_length=1, max_length=60)
    meaning: str = Field(min_length=1, max_length=2000)


class TextBody(Strict):
    title: str = Field(min_length=1, max_length=120)
    terms: str = Field(min_length=1, max_length=20_000)
    definitions: list[DefinitionBody] = Field(default_factory=list, max_length=100)
    category: Category = "other"
    if_broken: str = Field(default="", max_length=5000)
    review_every_days: int | None = Field(default=None, ge=1, le=3650)

    @field_validator("definitions", mode="before")
    @classmethod
    def _definitions_by_word(cls, value: Any) -> Any:
        # Also accepted as {word: meaning}: the web client's form names each definition's
        # field after its word (``definitions.soon``).
        if isinstance(value, dict):
            return [{"word": word, "meaning": meaning} for word, meaning in value.items()]
        return value

    def agreement_text(self) -> AgreementText:
        return AgreementText(
            title=self.title.strip(),
            terms=self.terms.strip(),
            definitions=tuple(
                Definition(word=item.word.strip(), meaning=item.meaning.strip())
                for item in self.definitions
            ),
            category=self.category,
            if_broken=self.if_broken.strip(),
            review_every_days=self.review_every_days,
        )


class ProposeNewAgreement(TextBody):
    kind: Literal["create"]
    parties: Parties
    respond_by: AwareDatetime | None = None
    # Required (true) when the proposer is its only party: it is then in force at once.
    binds_only_me: bool = False
    # A closed proposal (one not agreed) that this one asks again.
    asks_again: UUID | None = None


class ProposeAmendment(TextBody):
    kind: Literal["amend"]
    agreement_id: UUID
    added_parties: list[UUID] = Field(default_factory=list, max_length=100)
    respond_by: AwareDatetime | None = None
    asks_again: UUID | None = None


class ProposeEnding(Strict):
    kind: Literal["end"]
    agreement_id: UUID
    note: str | None = Field(default=None, max_length=5000)
    respond_by: AwareDatetime | None = None
    asks_again: UUID | None = None


class NewProposal(RootModel[Annotated[
    ProposeNewAgreement | ProposeAmendment | ProposeEnding, Field(discriminator="kind")
]]):
    """A proposal to create, amend or end an agreement (``kind`` says which)."""


class Revision(TextBody):
    # For a new agreement: all its parties; for an amendment: parties to add. Left out:
    # the parties stay as they were.
    parties: list[UUID] | None = Field(default=None, min_length=1, max_length=100)
    respond_by: AwareDatetime | None = None


class ConsentBody(Strict):
    # The revision you read and consent to; consent is to that exact text.
    revision: int = Field(ge=1)


class ObjectionBody(Strict):
    revision: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=5000)


class CommentBody(Strict):
    # A question for the others, or a comment on the proposal.
    kind: CommentKind = "comment"
    text: str = Field(min_length=1, max_length=5000)


class RevokeBody(Strict):
    note: str | None = Field(default=None, max_length=5000)


class ReviewRequestBody(Strict):
    note: str = Field(min_length=1, max_length=5000)


class ClarityBody(Strict):
    title: str = Field(default="", max_length=120)
    terms: str = Field(default="", max_length=20_000)
    if_broken: str = Field(default="", max_length=5000)
    definitions: list[str] = Field(default_factory=list, max_length=100)


class DraftBody(Strict):
    """A wording being written, as far as it goes (a live preview reads it as typed)."""

    title: str = Field(default="", max_length=120)
    terms: str = Field(default="", max_length=20_000)
    if_broken: str = Field(default="", max_length=5000)


class AgreementsQuery(Strict):
    # Answer with the versions in force at this moment instead of those in force now.
    as_of: AwareDatetime | None = None
    # Only agreements binding all these members (member ids, separated by commas). Room for
    # sixteen, and short enough that any address naming them fits in the 8 KiB request
    # line the server reads, however it is percent-encoded.
    between: str | None = Field(default=None, max_length=600, pattern=_MEMBER_IDS)

    def between_members(self) -> list[UUID]:
        if not self.between:
            return []
        return [UUID(part.strip()) for part in self.between.split(",")]


class DiffQuery(Strict):
    from_: int = Field(alias="from", ge=1, le=INTEGER_MAX)
    to: int = Field(ge=1, le=INTEGER_MAX)


# --- What members read -------------------------------------------------------------------


class DefinitionView(Strict):
    word: str
    meaning: str


class TextView(Strict):
    title: str
    terms: str
    definitions: list[DefinitionView]
    category: Category
    if_broken: str
    review_every_days: int | None
    # Words known to be read differently that this text uses without defining them.
    fuzzy_words: list[str]

    @model_validator(mode="before")
    @classmethod
    def _as_the_domain_reads_it(cls, value: Any) -> Any:
        """A wording as stored (its texts opened) is read as the domain reads it, and shown
        with what the clarity check finds in it."""
        if isinstance(value, dict) and "fuzzy_words" not in value:
            text = AgreementText.model_validate(value)
            # As stored, a wording has every field; one stored without some takes the
            # domain's defaults for them.
            stored = value if value.keys() == _WORDING_FIELDS else text.model_dump()
            return {**stored, "fuzzy_words": text.fuzzy_words()}
        return value


_WORDING_FIELDS = AgreementText.model_fields.keys()


class ResponseView(Strict):
    member_id: UUID
    # The revision answered.
    revision: int
    response: Literal["consented", "objected"]
    reason: str | None
    at: datetime


class CommentView(Strict):
    comment_id: UUID
    member_id: UUID
    # The revision the member was reading when they wrote it.
    revision: int
    kind: CommentKind
    # The author's words; "[erased]" once their account is erased.
    text: str
    at: datetime


class ProposalView(Strict):
    polycule_id: UUID
    proposal_id: UUID
    agreement_id: UUID
    kind: ProposalKind
    proposed_by: UUID
    parties: list[UUID]
    revision: int
    text: TextView | None
    note: str | None
    base_version: int | None
    respond_by: datetime | None
    # The closed proposal this one asks again, if it does.
    asks_again: UUID | None
    status: ProposalStatus
    opened_at: datetime
    closed_at: datetime | None
    # Each party's current answer to the current revision (the last one they gave it), and
    # the parties who have not answered it yet.
    responses: list[ResponseView]
    awaiting: list[UUID]
    # Every answer to every revision, in the order given: a yes that became a no shows both.
    answers: list[ResponseView]
    # Every question and comment members made about it, in the order made.
    comments: list[CommentView]

    def answer_of(self, member_id: UUID) -> ResponseView | None:
        """The member's current answer to the current revision, if they gave one."""
        return next((given for given in reversed(self.responses) if given.member_id == member_id),
                    None)


class AgreementView(Strict):
    polycule_id: UUID
    agreement_id: UUID
    version: int
    status: Literal["active", "ended"]
    parties: list[UUID]
    text: TextView
    in_force_since: datetime
    next_review_at: datetime | None
    review_due: bool
    review_due_since: datetime | None
    reaffirmed_by: list[UUID]
    open_proposal_id: UUID | None
    ended_at: datetime | None
    end_reason: str | None
    ended_by: UUID | None


class VersionView(Strict):
    agreement_id: UUID
    version: int
    proposal_id: UUID
    revision: int
    parties: list[UUID]
    text: TextView
    in_force_from: datetime
    in_force_until: datetime | None
    # amended, revoked, party_left or ended_by_proposal; None while in force.
    ended_how: str | None
    ended_by: UUID | None
    end_note: str | None
    consents: list[ResponseView]


class RevisionView(Strict):
    revision: int
    parties: list[UUID]
    text: TextView | None
    at: datetime
    # Every answer to this revision, in the order given, changed answers included.
    responses: list[ResponseView]
    # What this revision changed: from the previous revision, or for an amendment's first
    # revision from the version it amends. None for a new agreement's first revision.
    changes: TextChanges | None = None


class ProposalHistoryView(Strict):
    proposal: ProposalView
    revisions: list[RevisionView]


class TimelineView(Strict):
    stream_version: int
    at: datetime
    what: str
    member_id: UUID | None
    proposal_id: UUID | None
    revision: int | None
    version: int | None
    note: str | None
    detail: str | None


class HistoryView(Strict):
    agreement: AgreementView
    versions: list[VersionView]
    proposals: list[ProposalHistoryView]
    timeline: list[TimelineView]


class ChangeView(Strict):
    op: Literal["same", "removed", "added"]
    text: str


class TextChanges(Strict):
    """Word by word, how one wording became another."""

    title: list[ChangeView]
    terms: list[ChangeView]
    if_broken: list[ChangeView]
    # One line per definition, "word: meaning", in the order given.
    definitions: list[ChangeView]
    category: tuple[str, str]
    review_every_days: tuple[int | None, int | None]


class DiffView(Strict):
    agreement_id: UUID
    from_version: int
    to_version: int
    changes: TextChanges
    parties_added: list[UUID]
    parties_removed: list[UUID]


class ChangesSeen(Strict):
    """What a proposal's wording changes from an earlier wording: the version it amends,
    or the revision before it."""

    compared_with: Literal["version", "revision", "asked_again"]
    # That version's or that revision's number (for the proposal asked again, the number
    # of its last revision).
    number: int
    # The proposal compared with, when it is another one (the one asked again).
    proposal_id: UUID | None = None
    changes: TextChanges
    parties_added: list[UUID]
    parties_removed: list[UUID]


class ProposalChangesView(Strict):
    proposal_id: UUID
    # The revision whose changes these are: the one to answer now.
    revision: int
    # For an amendment, what it changes in the version it amends (first); for a proposal
    # asking again one that was not agreed, what changed since that one's last wording;
    # for a revision after the first, what changed since the one before it. None for a new
    # agreement's first wording, nor for an ending, which has no wording of its own.
    compared: list[ChangesSeen]


class DraftChangesView(Strict):
    """Word by word, what a draft changes in a proposal's wording (its current revision)."""

    proposal_id: UUID
    revision: int
    title: list[ChangeView]
    terms: list[ChangeView]
    if_broken: list[ChangeView]


class InForceView(Strict):
    as_of: datetime
    between: list[UUID]
    agreements: list[VersionView]


class ClarityView(Strict):
    fuzzy_words: list[str]
    # Each fuzzy word's forms as the draft writes them (lowercased), for highlighting.
    forms: dict[str, list[str]]


# --- Opening what the read models keep sealed ----------------------------------------------
# Each view is its row's (projections/agreement_queries.py) with the words opened
# (``opened``, ledger/http/shapes.py); a wording is read by TextView itself.


async def opened_text(sealed: dict[str, Any], keyring: KeyRing) -> TextView:
    return TextView.model_validate(await decrypt_event_fields(sealed, keyring))


async def opened_proposal(row: ProposalRow, keyring: KeyRing) -> ProposalView:
    return await opened(ProposalView, row, keyring)


async def opened_agreement(row: AgreementRow, keyring: KeyRing) -> AgreementView:
    return await opened(AgreementView, row, keyring)


async def opened_version(row: VersionRow, keyring: KeyRing) -> VersionView:
    return await opened(VersionView, row, keyring)


async def opened_revision(row: RevisionRow, keyring: KeyRing) -> RevisionView:
    return await opened(RevisionView, row, keyring)


async def opened_entry(row: TimelineEntry, keyring: KeyRing) -> TimelineView:
    return await opened(TimelineView, row, keyring)


def version_diff(
    agreement_id: UUID,
    before: tuple[int, list[UUID], TextView],
    after: tuple[int, list[UUID], TextView],
) -> DiffView:
    """How one version (number, parties, text) became another."""
    to_version, new_parties, new = after
    seen = changes_seen("version", before, (new_parties, new))
    return DiffView(
        agreement_id=agreement_id,
        from_version=seen.number,
        to_version=to_version,
        changes=seen.changes,
        parties_added=seen.parties_added,
        parties_removed=seen.parties_removed,
    )


def changes_seen(
    compared_with: Literal["version", "revision", "asked_again"],
    before: tuple[int, list[UUID], TextView],
    after: tuple[list[UUID], TextView],
    proposal_id: UUID | None = None,
) -> ChangesSeen:
    """What a wording (parties, text) changes from the version or revision ``before``."""
    (number, old_parties, old), (new_parties, new) = before, after
    return ChangesSeen(
        compared_with=compared_with,
        number=number,
        proposal_id=proposal_id,
        changes=text_changes(old, new),
        parties_added=[party for party in new_parties if party not in old_parties],
        parties_removed=[party for party in old_parties if party not in new_parties],
    )


def text_changes(old: TextView, new: TextView) -> TextChanges:
    return TextChanges(
        title=_changes(old.title, new.title),
        terms=_changes(old.terms, new.terms),
        if_broken=_changes(old.if_broken, new.if_broken),
        definitions=_changes(_definition_lines(old), _definition_lines(new)),
        category=(old.category, new.category),
        review_every_days=(old.review_every_days, new.review_every_days),
    )


def draft_changes(proposal: ProposalView, draft: DraftBody) -> DraftChangesView | None:
    """What ``draft`` changes in the proposal's wording; None for one without a wording."""
    if proposal.text is None:
        return None
    return DraftChangesView(
        proposal_id=proposal.proposal_id,
        revision=proposal.revision,
        title=_changes(proposal.text.title, draft.title.strip()),
        terms=_changes(proposal.text.terms, draft.terms.strip()),
        if_broken=_changes(proposal.text.if_broken, draft.if_broken.strip()),
    )


def _changes(old: str, new: str) -> list[ChangeView]:
    return [ChangeView(op=change.op, text=change.text) for change in word_diff(old, new)]


def _definition_lines(text: TextView) -> str:
    return "\n".join(f"{item.word}: {item.meaning}" for item in text.definitions)
