"""A proposal as a conversation, over HTTP against real PostgreSQL: questions and comments
from any member, in order with the answers, in the API and on the page; what a wording
changes, word by word, where people answer it; a word after each action to say it went
through; and a comment's words erased with their author."""

from __future__ import annotations

from typing import Any

from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of
from tests.http.web import page, submitted, text_of

QUESTION = "Does a call from my mother count as a phone at dinner?"
ANSWER = "Only if you pick it up during the meal."
CYDS_WORDS = "I would rather we kept Thursdays out of it, just saying."


def wording(terms: str, title: str = "Dinner") -> dict[str, Any]:
    return {"title": title, "terms": terms, "category": "time"}


async def proposed(proposer: Person, polycule: str, *parties: Person) -> dict[str, Any]:
    answer: dict[str, Any] = await proposer.json(
        "POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", **wording("No phones at dinner."),
            "parties": [str(p.account_id) for p in (proposer, *parties)],
        },
    )
    return answer


async def test_any_member_asks_and_comments_and_everyone_reads_it_in_order(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd, person(client, "dee") as dee:
        polycule = await polycule_of(ana, ben, cyd)
        elsewhere = await polycule_of(dee, name="Waffles")
        proposal = await proposed(ana, polycule, ben)
        path = f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"

        # Cyd is no party to it and may still ask; ben answers after the question.
        asked = await cyd.json("POST", f"{path}/comments", 201,
                               json={"kind": "question", "text": QUESTION})
        await ana.json("POST", f"{path}/comments", 201, json={"text": ANSWER})
        await ben.json("POST", f"{path}/consent", json={"revision": 1})

        assert [c["text"] for c in asked["comments"]] == [QUESTION]
        shown = await ben.json("GET", path)
        assert [(c["member_id"], c["kind"], c["revision"], c["text"])
                for c in shown["comments"]] == [
            (str(cyd.account_id), "question", 1, QUESTION),
            (str(ana.account_id), "comment", 1, ANSWER),
        ]
        # In the order made, and with the answers: ana's yes, the two words, ben's yes.
        ana_yes, ben_yes = shown["answers"]
        question, answer = shown["comments"]
        assert ana_yes["at"] < question["at"] < answer["at"] < ben_yes["at"]
        assert shown["status"] == "ratified"
        # Every member reads them in the list too; the audit view shows the event in full.
        events = await cyd.json("GET", f"/api/polycules/{polycule}/events")
        [made] = [e for e in events["events"] if e.get("event_type") == "CommentMade"
                  and e["data"]["member_id"] == str(cyd.account_id)]
        assert made["data"]["text"] == QUESTION

        # Nobody outside the polycule learns that it exists, nor may say anything.
        assert (await dee.request("GET", path)).status == 404
        refused = await dee.request("POST", f"{path}/comments", json={"text": "hello"})
        assert refused.status == 404
        wrong_polycule = path.replace(polycule, elsewhere)
        assert (await dee.request("GET", wrong_polycule)).status == 404
        # A closed proposal takes no more; words are needed; nothing changed.
        closed = await cyd.request("POST", f"{path}/comments", json={"text": "Too late?"})
        assert closed.status == 409
        assert error_of(await closed.json())["code"] == "proposal_closed"
        assert len((await ana.json("GET", path))["comments"]) == 2


async def test_a_comment_needs_words_and_changes_no_answer(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule = await polycule_of(ana, ben)
        proposal = await proposed(ana, polycule, ben)
        path = f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"

        blank = await ben.request("POST", f"{path}/comments", json={"text": "  \n "})
        assert blank.status == 409
        assert error_of(await blank.json())["code"] == "words_required"
        odd = await ben.request("POST", f"{path}/comments",
                                json={"kind": "answer", "text": "yes"})
        assert odd.status == 422
        said = await ben.json("POST", f"{path}/comments", 201, json={"text": "Lovely idea."})
        assert said["status"] == "open" and said["awaiting"] == [str(ben.account_id)]


async def test_the_page_shows_the_conversation_takes_a_comment_and_says_it_went_through(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ana, ben, cyd)
        proposal = await proposed(ana, polycule, ben)
        location = f"/polycules/{polycule}/proposals/{proposal['proposal_id']}"

        went = await submitted(cyd, f"/api{location}/comments",
                               {"kind": "question", "text": QUESTION},
                               return_to=f"{location}?done=said")
        assert went == f"{location}?done=said"
        mine = await page(cyd, went)
        assert 'id="confirmation"' in mine and "autofocus" in mine
        assert "Your words are added to the conversation below." in text_of(mine)

        went = await submitted(ben, f"/api{location}/consent", {"revision": "1"},
                               return_to=f"{location}?done=yes")
        agreed = text_of(await page(ben, went))
        assert "Your yes is recorded. Everyone it concerns has said yes: it is in force now." \
            in agreed
        told = agreed.split("Every answer and comment, in order", 1)[1]
        assert told.index("Ana said yes") < told.index("Cyd asked, reading revision 1") \
            < told.index(QUESTION) < told.index("You said yes")
        # Someone else, and anyone later, reads the page without a confirmation; a made-up
        # one names no words of its own.
        theirs = await page(ana, f"{location}?done=Something+else")
        assert 'id="confirmation"' not in theirs and QUESTION in text_of(theirs)


async def test_an_amendment_and_a_rewording_show_what_they_change_where_people_answer(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule = await polycule_of(ana, ben)
        first = await proposed(ana, polycule, ben)
        proposals = f"/api/polycules/{polycule}/proposals"
        await ben.json("POST", f"{proposals}/{first['proposal_id']}/consent", json={"revision": 1})
        change = await ana.json("POST", proposals, 201, json={
            "kind": "amend", "agreement_id": first["agreement_id"],
            **wording("No phones at dinner or breakfast."),
        })
        path = f"{proposals}/{change['proposal_id']}"

        changes = await ben.json("GET", f"{path}/changes")
        [from_version] = changes["compared"]
        assert (from_version["compared_with"], from_version["number"]) == ("version", 1)
        assert {"op": "added", "text": "or breakfast"} in [
            {"op": c["op"], "text": c["text"].strip()} for c in from_version["changes"]["terms"]
        ]
        html = await page(ben, f"/polycules/{polycule}/proposals/{change['proposal_id']}")
        answering = html.split('id="answer-heading"', 1)[1]
        assert "What it changes in version 1, in force now" in text_of(answering)
        assert '<ins><span class="visually-hidden">added: </span>' in answering

        deadline = "2999-01-01T18:00:00Z"
        await ana.json("POST", f"{path}/revise",
                       json={**wording("No phones at breakfast."), "respond_by": deadline})
        # Rewording again starts from that deadline, which its page's script shows in the
        # reader's own time.
        rewording = await page(
            ana, f"/polycules/{polycule}/propose?revise={change['proposal_id']}"
        )
        assert 'data-current="2999-01-01T18:00:00Z"' in rewording
        changes = await ben.json("GET", f"{path}/changes")
        assert [(c["compared_with"], c["number"]) for c in changes["compared"]] == [
            ("version", 1), ("revision", 1),
        ]
        answering = text_of((await page(
            ben, f"/polycules/{polycule}/proposals/{change['proposal_id']}"
        )).split('id="answer-heading"', 1)[1])
        assert "What changed since the wording before it (revision 1)" in answering
        assert "removed: dinner or" in answering
        # A new agreement's first wording changes nothing that was there before.
        assert (await ben.json("GET", f"{proposals}/{first['proposal_id']}/changes"))[
            "compared"] == []
        # The agreement's own story tells of the conversation too.
        await ben.json("POST", f"{path}/comments", 201,
                       json={"kind": "question", "text": QUESTION})
        story = text_of(await page(
            ana, f"/polycules/{polycule}/agreements/{first['agreement_id']}"
        )).split("What happened, step by step", 1)[1]
        assert f"Ben asked a question about the proposal (revision 2). {QUESTION}" in story


async def test_an_erased_members_comments_read_as_erased_and_the_page_says_so(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule = await polycule_of(ana, ben, cyd)
        proposal = await proposed(ana, polycule, ben)
        path = f"/api/polycules/{polycule}/proposals/{proposal['proposal_id']}"
        await cyd.json("POST", f"{path}/comments", 201, json={"text": CYDS_WORDS})
        await ben.json("POST", f"{path}/comments", 201, json={"text": ANSWER})

        await cyd.json("DELETE", "/api/account", json={"handle": "cyd", "password": PASSWORD})

        shown = await ana.json("GET", path)
        assert [c["text"] for c in shown["comments"]] == ["[erased]", ANSWER]
        told = text_of(await page(ana, f"/polycules/{polycule}/proposals/"
                                        f"{proposal['proposal_id']}"))
        assert "Their words were erased together with their account." in told
        assert CYDS_WORDS not in told and ANSWER in told


async def test_a_proposal_asked_again_shows_what_changed_since_the_one_not_agreed(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "dee") as dee:
        polycule = await polycule_of(ana, ben)
        elsewhere = await polycule_of(dee, ana, name="Waffles")
        first = await proposed(ana, polycule, ben)
        proposals = f"/api/polycules/{polycule}/proposals"
        again_body = {
            "kind": "create", **wording("No phones at dinner on weekdays."),
            "parties": [str(ana.account_id), str(ben.account_id)],
            "asks_again": first["proposal_id"],
        }
        still_open = await ana.request("POST", proposals, json=again_body)
        assert error_of(await still_open.json())["code"] == "asked_while_open"
        await ben.json("POST", f"{proposals}/{first['proposal_id']}/object",
                       json={"revision": 1, "reason": "Not when I am on call."})
        # The form that asks again carries the proposal it asks.
        form = await page(ana, f"/polycules/{polycule}/propose?again={first['proposal_id']}")
        assert f'name="asks_again" value="{first["proposal_id"]}"' in form
        # While the words are changed, the form asks what the draft changes (nothing is
        # recorded by asking).
        draft_changes = f"{proposals}/{first['proposal_id']}/draft-changes"
        assert f'data-changes-url="{draft_changes}"' in form
        drafted = await ana.json("POST", draft_changes, json={
            "title": "Dinner", "terms": "No phones at dinner on weekdays.",
        })
        assert [c["text"].strip() for c in drafted["terms"] if c["op"] != "same"] == [
            "on weekdays"
        ]
        assert [c["op"] for c in drafted["title"]] == ["same"]
        # A proposal of another polycule is not one to ask again here: the same answer as
        # for an id that names nothing.
        theirs = await proposed(dee, elsewhere, ana)
        foreign = await ana.request("POST", proposals, json={
            **again_body, "asks_again": theirs["proposal_id"],
        })
        assert error_of(await foreign.json())["code"] == "not_asked_before"

        again = await ana.json("POST", proposals, 201, json=again_body)

        assert again["asks_again"] == first["proposal_id"]
        [since] = (await ben.json("GET", f"{proposals}/{again['proposal_id']}/changes"))[
            "compared"]
        assert (since["compared_with"], since["proposal_id"]) == (
            "asked_again", first["proposal_id"]
        )
        assert [c["text"].strip() for c in since["changes"]["terms"] if c["op"] == "added"] == [
            "on weekdays"
        ]
        answering = text_of((await page(
            ben, f"/polycules/{polycule}/proposals/{again['proposal_id']}"
        )).split('id="answer-heading"', 1)[1])
        assert "What changed since the proposal that was not agreed" in answering
        assert "added: on weekdays" in answering


async def test_the_agreement_page_says_an_action_went_through(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule = await polycule_of(ana, ben)
        first = await proposed(ana, polycule, ben)
        await ben.json("POST", f"/api/polycules/{polycule}/proposals/{first['proposal_id']}"
                               "/consent", json={"revision": 1})
        location = f"/polycules/{polycule}/agreements/{first['agreement_id']}"
        forms = await page(ben, location)
        for done in ("review", "revoked"):
            assert f'name="return_to" value="{location}?done={done}"' in forms

        went = await submitted(ben, f"/api{location}/request-review",
                               {"note": "Breakfast is when we talk."},
                               return_to=f"{location}?done=review")
        asked = await page(ben, went)
        assert 'id="confirmation"' in asked and "autofocus" in asked
        assert "Your request to look at it again is recorded" in text_of(asked)
        went = await submitted(ben, f"/api{location}/revoke", {},
                               return_to=f"{location}?done=revoked")
        assert "Your consent is withdrawn: the agreement has ended from this moment." in (
            text_of(await page(ben, went))
        )
        assert 'id="confirmation"' not in await page(ana, location)
