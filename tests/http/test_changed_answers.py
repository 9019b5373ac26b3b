"""A yes that becomes a no, over HTTP against real PostgreSQL: the change is accepted, it
rejects the proposal, the proposal and the agreement's history keep both answers in the
order they were given, and the ledger goes on answering — in that polycule and in others."""

from __future__ import annotations

from typing import Any

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submitted, text_of

REASON = "I said yes too quickly: Sundays are my only day alone."


def text(terms: str) -> dict[str, Any]:
    return {"title": "Sundays", "terms": terms, "category": "time"}


async def agreed(proposer: Person, other: Person, polycule: str) -> str:
    """An agreement between the two, proposed by ``proposer`` and consented to: its id."""
    proposals = f"/api/polycules/{polycule}/proposals"
    proposal = await proposer.json("POST", proposals, 201, json={
        "kind": "create", **text("We keep Sunday mornings for the two of us."),
        "parties": [str(proposer.account_id), str(other.account_id)],
    })
    ratified = await other.json(
        "POST", f"{proposals}/{proposal['proposal_id']}/consent", json={"revision": 1}
    )
    assert ratified["status"] == "ratified"
    agreement_id: str = proposal["agreement_id"]
    return agreement_id


def answers(shown: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(a["member_id"], a["response"], a["revision"]) for a in shown]


async def test_a_yes_that_becomes_a_no_rejects_and_both_answers_stay(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ana, ben, cyd)
        elsewhere = await polycule_of(cyd, ana, name="Waffles")
        agreement_id = await agreed(ana, ben, polycule)
        proposals = f"/api/polycules/{polycule}/proposals"
        a, b, c = (str(p.account_id) for p in (ana, ben, cyd))

        # Ana proposes to bind cyd as well; ben says yes, cyd has not answered yet.
        amendment = await ana.json("POST", proposals, 201, json={
            "kind": "amend", "agreement_id": agreement_id, "added_parties": [c],
            **text("We keep Sunday mornings for the three of us."),
        })
        path = f"{proposals}/{amendment['proposal_id']}"
        said_yes = await ben.json("POST", f"{path}/consent", json={"revision": 1})
        assert said_yes["status"] == "open" and said_yes["awaiting"] == [c]
        said_no = await ben.json(
            "POST", f"{path}/object", json={"revision": 1, "reason": REASON}
        )

        assert said_no["status"] == "rejected"
        shown = await ana.json("GET", path)
        assert shown["status"] == "rejected" and shown["awaiting"] == []
        # Each party's answer now: ben's is the no, and it carries its reason.
        assert answers(shown["responses"]) == [(a, "consented", 1), (b, "objected", 1)]
        assert shown["responses"][1]["reason"] == REASON
        # Every answer, in the order given, the yes included.
        assert answers(shown["answers"]) == [
            (a, "consented", 1), (b, "consented", 1), (b, "objected", 1)
        ]
        yes, no = shown["answers"][1:]
        assert (yes["reason"], no["reason"]) == (None, REASON)
        assert yes["at"] <= no["at"]

        history = await ana.json("GET", f"/api/polycules/{polycule}/agreements/{agreement_id}"
                                       "/history")
        assert history["agreement"]["version"] == 1  # the rejected change changed nothing
        _, rejected = history["proposals"]
        assert rejected["proposal"]["status"] == "rejected"
        [revision] = rejected["revisions"]
        assert answers(revision["responses"]) == [
            (a, "consented", 1), (b, "consented", 1), (b, "objected", 1)
        ]
        told = [
            (entry["what"], entry["member_id"]) for entry in history["timeline"]
            if entry["proposal_id"] == amendment["proposal_id"]
        ]
        assert told == [
            ("AgreementProposed", a), ("ConsentGiven", a), ("ConsentGiven", b),
            ("ObjectionRaised", b), ("ProposalRejected", None),
        ]

        # The ledger goes on: the next writes here and in another polycule go through.
        again = await ben.json("POST", proposals, 201, json={
            "kind": "amend", "agreement_id": agreement_id,
            **text("We keep Sunday mornings for the two of us, until eleven."),
        })
        assert again["status"] == "open"
        tea = await cyd.json("POST", f"/api/polycules/{elsewhere}/proposals", 201, json={
            "kind": "create", **text("Tea together on Sundays."),
            "parties": [str(cyd.account_id), a],
        })
        consented = await ana.json(
            "POST", f"/api/polycules/{elsewhere}/proposals/{tea['proposal_id']}/consent",
            json={"revision": 1},
        )
        assert consented["status"] == "ratified"


async def test_a_new_agreements_proposer_changes_their_own_yes_to_a_no(client: Client) -> None:
    """The proposal is its proposer's yes; they may turn it into a no like anyone else."""
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule = await polycule_of(ana, ben)
        proposals = f"/api/polycules/{polycule}/proposals"
        proposal = await ana.json("POST", proposals, 201, json={
            "kind": "create", **text("We keep Sunday mornings for the two of us."),
            "parties": [str(ana.account_id), str(ben.account_id)],
        })
        path = f"{proposals}/{proposal['proposal_id']}"

        await ana.json("POST", f"{path}/object", json={"revision": 1, "reason": REASON})

        shown = await ben.json("GET", path)
        assert shown["status"] == "rejected" and shown["awaiting"] == []
        a = str(ana.account_id)
        assert answers(shown["answers"]) == [(a, "consented", 1), (a, "objected", 1)]
        assert answers(shown["responses"]) == [(a, "objected", 1)]
        refused = await ben.request("POST", f"{path}/consent", json={"revision": 1})
        assert refused.status == 409  # rejected: nothing more can be answered
        assert await ben.json("GET", f"/api/polycules/{polycule}/agreements") == []


async def test_the_proposal_page_offers_a_no_after_a_yes_and_tells_every_answer(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ana, ben, cyd)
        proposal = await ana.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", **text("We keep Sunday mornings for the three of us."),
            "parties": [str(p.account_id) for p in (ana, ben, cyd)],
        })
        location = f"/polycules/{polycule}/proposals/{proposal['proposal_id']}"
        await submitted(ben, f"/api{location}/consent", {"revision": "1"}, return_to=location)

        before = text_of(await page(ben, location))
        assert "You: said yes" in before and "Cyd: not yet answered" in before
        assert "Changed your mind?" in before
        assert "Changed your mind?" not in text_of(await page(cyd, location))

        await submitted(ben, f"/api{location}/object", {"revision": "1", "reason": REASON},
                        return_to=location)

        after = text_of(await page(ana, location))
        assert "Not agreed" in after and "Ben: said no" in after and REASON in after
        told = after.split("Every answer and comment, in order", 1)[1]
        assert told.index("You said yes") < told.index("Ben said yes") < told.index(
            "Ben said no"
        )
