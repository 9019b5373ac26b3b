"""Proposing and answering through the web client's pages and forms, as a browser without
script does: what each member's pages say, and what the forms change."""

from __future__ import annotations

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submitted, text_of


async def propose_by_form(by: Person, polycule_id: str, *parties: Person) -> str:
    """Propose "Evenings" between ``by`` and ``parties`` through the form: its page."""
    fields = [
        ("kind", "create"), ("title", "Evenings"), ("category", "time"),
        ("terms", "After a date we text each other goodnight."),
        ("definitions.date", "an evening out with someone new"),
        *[("parties[]", str(someone.account_id)) for someone in (by, *parties)],
    ]
    return await submitted(
        by, f"/api/polycules/{polycule_id}/proposals", fields,
        return_to=f"/polycules/{polycule_id}/proposals/{{proposal_id}}",
    )


async def test_a_proposal_made_by_form_awaits_the_other_party_on_their_home_page(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cy:
        polycule_id = await polycule_of(ana, ben, cy)

        location = await propose_by_form(ana, polycule_id, ben)

        (open_proposal,) = await ana.json("GET", f"/api/polycules/{polycule_id}/proposals")
        assert location == f"/polycules/{polycule_id}/proposals/{open_proposal['proposal_id']}"
        assert open_proposal["text"]["definitions"] == [
            {"word": "date", "meaning": "an evening out with someone new"}
        ]
        bens_home = text_of(await page(ben, f"/polycules/{polycule_id}"))
        awaiting = bens_home.split("Awaiting you", 1)[1].split("Open proposals", 1)[0]
        assert "Evenings" in awaiting and "Awaiting your answer" in awaiting
        cys_home = text_of(await page(cy, f"/polycules/{polycule_id}"))
        assert "Awaiting you" not in cys_home and "Evenings" in cys_home
        said = text_of(await page(ben, location))
        assert "date an evening out with someone new" in said
        assert "Ana: said yes" in said and "You: not yet answered" in said


async def test_consenting_by_form_puts_it_in_force_and_the_home_page_shows_it(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule_id = await polycule_of(ana, ben)
        location = await propose_by_form(ana, polycule_id, ben)

        went_to = await submitted(
            ben, f"/api{location}/consent", {"revision": "1"}, return_to=location
        )

        assert went_to == location
        assert "it is in force" in text_of(await page(ana, location))
        (agreement,) = await ana.json("GET", f"/api/polycules/{polycule_id}/agreements")
        assert agreement["text"]["title"] == "Evenings"
        home = text_of(await page(ana, f"/polycules/{polycule_id}"))
        assert "Agreements in force Evenings" in home and "No proposals are open" in home


async def test_saying_no_by_form_keeps_the_reason_and_closes_it(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule_id = await polycule_of(ana, ben)
        location = await propose_by_form(ana, polycule_id, ben)

        await submitted(ben, f"/api{location}/object",
                        {"revision": "1", "reason": "Goodnight is too late for me."},
                        return_to=location)

        said = text_of(await page(ana, location))
        assert "Not agreed" in said and "Goodnight is too late for me." in said
        assert await ana.json("GET", f"/api/polycules/{polycule_id}/agreements") == []


async def test_the_proposer_rewords_it_by_form_and_every_earlier_yes_is_cleared(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule_id = await polycule_of(ana, ben, cyd)
        location = await propose_by_form(ana, polycule_id, ben, cyd)
        proposal_id = location.rsplit("/", 1)[1]
        await submitted(ben, f"/api{location}/consent", {"revision": "1"}, return_to=location)
        assert "Reword it" in await page(ana, location)
        assert "Reword it" not in await page(ben, location)
        form = await page(ana, f"/polycules/{polycule_id}/propose?revise={proposal_id}")
        assert "After a date we text each other goodnight.</textarea>" in form

        await submitted(ana, f"/api{location}/revise", [
            ("title", "Evenings"), ("terms", "After a date we text each other by eleven."),
            ("definitions.date", "an evening out with someone new"),
        ], return_to=location)

        shown = await ana.json("GET", f"/api{location}")
        assert shown["revision"] == 2
        assert shown["text"]["terms"] == "After a date we text each other by eleven."
        assert sorted(shown["awaiting"]) == sorted([str(ben.account_id), str(cyd.account_id)])
        # Ben said yes to the first wording; the new one awaits his answer again.
        assert "You: not yet answered" in text_of(await page(ben, location))


async def test_withdrawing_by_form_closes_it(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule_id = await polycule_of(ana, ben)
        location = await propose_by_form(ana, polycule_id, ben)

        await submitted(ana, f"/api{location}/withdraw", {}, return_to=location)

        assert "Withdrawn by its proposer" in text_of(await page(ben, location))
        assert await ana.json("GET", f"/api/polycules/{polycule_id}/proposals") == []


async def test_without_script_a_flagged_word_gets_its_field_when_rewording(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule_id = await polycule_of(ana, ben)
        location = await submitted(ana, f"/api/polycules/{polycule_id}/proposals", [
            ("kind", "create"), ("title", "Calls"),
            ("terms", "Nothing serious without a call by 10 p.m."),
            ("definitions.p.m.", "in the evening, our time"),
            ("parties[]", str(ana.account_id)), ("parties[]", str(ben.account_id)),
        ], return_to=f"/polycules/{polycule_id}/proposals/{{proposal_id}}")
        proposal_id = location.rsplit("/", 1)[1]

        form = text_of(await page(ana, f"/polycules/{polycule_id}/propose?revise={proposal_id}"))
        assert "What you mean by “serious”" in form
        assert "What you mean by “p.m.”" in form
        await submitted(ana, f"/api{location}/revise", [
            ("title", "Calls"), ("terms", "Nothing serious without a call by 10 p.m."),
            ("definitions.p.m.", "in the evening, our time"),
            ("definitions.serious", "anything we would want to hear about first"),
        ], return_to=location)

        text = (await ana.json("GET", f"/api{location}"))["text"]
        assert {(d["word"], d["meaning"]) for d in text["definitions"]} == {
            ("p.m.", "in the evening, our time"),
            ("serious", "anything we would want to hear about first"),
        }
        assert text["fuzzy_words"] == []


async def test_a_proposal_someone_said_no_to_is_reworded_and_asked_again_until_agreed(
    client: Client,
) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben, \
            person(client, "cyd") as cyd:
        polycule_id = await polycule_of(ana, ben, cyd)
        location = await propose_by_form(ana, polycule_id, ben)
        await submitted(ben, f"/api{location}/object",
                        {"revision": "1", "reason": "Goodnight is too late for me."},
                        return_to=location)
        proposal_id = location.rsplit("/", 1)[1]
        again = f"/polycules/{polycule_id}/propose?again={proposal_id}"

        # Where it was left standing, the way on: its page offers to ask again.
        assert f'href="{again}"' in await page(ana, location)
        form = await page(ana, again)
        said = text_of(form)
        assert "Ask again: “Evenings”" in said
        # Its words and its people are filled in, to be changed.
        assert 'value="Evenings"' in form
        assert "After a date we text each other goodnight." in form
        assert f'value="{ben.account_id}" checked' in form
        assert f'value="{cyd.account_id}" checked' not in form

        asked_again = await submitted(ana, f"/api/polycules/{polycule_id}/proposals", [
            ("kind", "create"), ("title", "Evenings"), ("category", "time"),
            ("terms", "After a date we text each other before eleven."),
            ("definitions.date", "an evening out with someone new"),
            ("parties[]", str(ana.account_id)), ("parties[]", str(ben.account_id)),
        ], return_to=f"/polycules/{polycule_id}/proposals/{{proposal_id}}")
        await submitted(ben, f"/api{asked_again}/consent", {"revision": "1"},
                        return_to=asked_again)

        [in_force] = await ana.json("GET", f"/api/polycules/{polycule_id}/agreements")
        assert in_force["text"]["terms"] == "After a date we text each other before eleven."
        # The first asking keeps its no, and offers nothing once agreed the second time.
        assert "Not agreed" in text_of(await page(ana, location))
        assert "Reword and ask again" not in await page(ana, asked_again)


async def test_the_forms_and_every_page_say_who_reads_what(client: Client) -> None:
    async with person(client, "ana") as ana, person(client, "ben") as ben:
        polycule_id = await polycule_of(ana, ben, name="Pancakes")
        proposing = text_of(await page(ana, f"/polycules/{polycule_id}/propose"))
        location = await propose_by_form(ana, polycule_id, ben)
        answering = text_of(await page(ben, location))

        assert "Everyone in Pancakes reads what you propose here" in proposing
        assert "Everyone in Pancakes reads your reason" in answering
        for shown in (proposing, answering):
            assert "a disclosure only by the people it is told to" in shown
