"""A view is its row with the words opened: every sealed field the view shows is opened for
the reader, in the rows the row holds too; a sealed field the view does not show is never
opened; an erased author's words read as erased; everything else is the row's, as it is."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from ledger.http.agreement_shapes import opened_proposal
from ledger.http.repair_shapes import opened_breach
from ledger.privacy import ERASED, KeyOwner, KeyRing
from ledger.store.records import JsonObject
from projections.agreement_queries import CommentRow, ProposalRow, ResponseRow
from projections.repair_queries import BreachRow

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ROBIN, SAM, ALEX = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
POLYCULE, PROPOSAL = uuid.uuid4(), uuid.uuid4()


async def sealed(keyring: KeyRing, words: str, owner: UUID = POLYCULE) -> JsonObject:
    key = KeyOwner("polycule", owner) if owner == POLYCULE else KeyOwner("member", owner)
    return dict(await keyring.seal(words, key))


def answer(
    member_id: UUID, response: str, reason: JsonObject | None = None, revision: int = 1
) -> ResponseRow:
    return ResponseRow(
        proposal_id=PROPOSAL, member_id=member_id, revision=revision,
        response=response,  # type: ignore[arg-type]
        reason=reason, at=NOW,
    )


async def test_a_proposal_is_shown_with_its_wording_and_every_answers_reason_opened(
    keyring: KeyRing,
) -> None:
    wording = {
        "title": await sealed(keyring, "Sundays"),
        "terms": await sealed(keyring, "A date on Sunday mornings; no overnight plans."),
        "definitions": [{"word": await sealed(keyring, "date"),
                         "meaning": await sealed(keyring, "breakfast out")}],
        "category": "time",
        "if_broken": await sealed(keyring, "We talk it through."),
        "review_every_days": 30,
    }
    reason = await sealed(keyring, "Not every Sunday", SAM)
    answers = (answer(ROBIN, "consented"), answer(SAM, "objected", reason),
               answer(ROBIN, "consented", revision=2))
    row = ProposalRow(
        polycule_id=POLYCULE, proposal_id=PROPOSAL, agreement_id=uuid.uuid4(), kind="create",
        proposed_by=ROBIN, parties=(ROBIN, SAM, ALEX), revision=2, text=wording, note=None,
        base_version=None, respond_by=None, asks_again=None, status="open", opened_at=NOW,
        closed_at=None, responses=answers[2:], answers=answers,
        comments=(CommentRow(
            comment_id=uuid.uuid4(), member_id=ALEX, revision=1, kind="question",
            text=await sealed(keyring, "Does brunch count?", ALEX), at=NOW,
        ),),
    )

    view = await opened_proposal(row, keyring)

    assert view.text is not None
    assert (view.text.title, view.text.terms, view.text.if_broken) == (
        "Sundays", "A date on Sunday mornings; no overnight plans.", "We talk it through."
    )
    assert [(d.word, d.meaning) for d in view.text.definitions] == [("date", "breakfast out")]
    assert (view.text.category, view.text.review_every_days) == ("time", 30)
    assert view.text.fuzzy_words == ["overnight"]  # "date" is defined
    assert [a.reason for a in view.answers] == [None, "Not every Sunday", None]
    assert [(c.member_id, c.kind, c.text) for c in view.comments] == [
        (ALEX, "question", "Does brunch count?")
    ]
    assert [r.member_id for r in view.responses] == [ROBIN]
    assert view.awaiting == [SAM, ALEX]
    assert (view.parties, view.revision, view.note) == ([ROBIN, SAM, ALEX], 2, None)
    assert '"sealed"' not in view.model_dump_json()


async def test_only_the_words_a_view_shows_are_opened_and_an_erased_author_reads_erased(
    keyring: KeyRing,
) -> None:
    account = await sealed(keyring, "I did not tell you first, and I am sorry.", SAM)
    # A closing note the breach's view does not show: were it opened, its altered seal
    # would refuse to open.
    unshown = {**await sealed(keyring, "We stop here.", ALEX), "ct": "AAAA"}
    row = BreachRow(
        polycule_id=POLYCULE, breach_id=uuid.uuid4(), agreement_id=uuid.uuid4(), version=1,
        parties=(ROBIN, SAM), harmed=(ROBIN,), breached_by=SAM, reported_by=ROBIN,
        happened_at=NOW, reported_at=NOW,
        what_happened=await sealed(keyring, "Sam went on a date without telling me.", ROBIN),
        status="acknowledged", acknowledgement=account, acknowledged_at=NOW, dispute=None,
        disputed_at=None, audience=(ROBIN, SAM), supporters=(), repair_status="ended",
        closed_at=NOW, closed_by=ALEX, close_note=unshown, restored_by=(),
    )

    shown = await opened_breach(row, keyring)

    assert shown.what_happened == "Sam went on a date without telling me."
    assert shown.acknowledgement == "I did not tell you first, and I am sorry."
    assert (shown.dispute, shown.self_reported, shown.parties) == (None, False, [ROBIN, SAM])
    await keyring.destroy(KeyOwner("member", SAM))
    erased = await opened_breach(row, keyring)
    assert erased.acknowledgement == ERASED
    assert erased.what_happened == "Sam went on a date without telling me."
