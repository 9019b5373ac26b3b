"""Disclosures in the web client, as a browser without script uses it: telling one chosen
member through the form, who sees it and who does not, acknowledging it, and the preview
of exactly who will read it before anything is sent."""

from __future__ import annotations

import re

from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.web import page, submit, submitted, text_of

WORDS = 'I met someone <b>new</b> & "lovely" at the climbing gym.'
ESCAPED = "I met someone &lt;b&gt;new&lt;/b&gt; &amp; &#34;lovely&#34; at the climbing gym."


def who_will_see(html: str) -> str:
    """The words of the page's preview of who will read the disclosure."""
    found = re.search(r'<div id="who-will-see"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the page has a preview of who will see it"
    return text_of(found.group(1))


def member_id(someone: Person) -> str:
    return str(someone.account_id)


async def test_told_to_one_member_it_is_theirs_alone_to_read_and_acknowledge(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo, \
            person(client, "cyd") as cy:
        polycule = await polycule_of(ash, bo, cy)
        disclosures = f"/polycules/{polycule}/disclosures"
        form = await page(ash, disclosures)
        assert f'name="recipients[]" value="{member_id(bo)}"' in form
        assert f'name="recipients[]" value="{member_id(ash)}"' not in form

        location = await submitted(ash, f"/api{disclosures}", [
            ("audience", "chosen"), ("recipients[]", member_id(bo)),
            ("kind", "new_connection"), ("text", WORDS),
        ], return_to=f"{disclosures}/{{disclosure_id}}")
        disclosure_id = location.rsplit("/", 1)[-1]
        assert location == f"{disclosures}/{disclosure_id}"

        listed = await page(bo, disclosures)
        assert ESCAPED in listed and WORDS not in listed
        assert "Ash told you" in text_of(listed)
        assert "Waiting for you to acknowledge it" in text_of(listed)
        shown = await page(bo, location)
        assert ESCAPED in shown and WORDS not in shown
        assert "Ash told this to you" in text_of(shown)
        assert "You: not yet acknowledged" in text_of(shown)
        acknowledge = f"/api{location}/acknowledge"
        assert f'action="{acknowledge}"' in shown

        assert await submitted(bo, acknowledge, {}, return_to=location) == location
        read = await bo.json("GET", f"/api{location}")
        assert [a["member_id"] for a in read["acknowledgements"]] == [member_id(bo)]
        after = await page(ash, location)
        assert "Bob: acknowledged it on" in text_of(after)
        assert f'action="{acknowledge}"' not in after
        assert f'action="{acknowledge}"' not in await page(bo, location)

        # Cy was not told: not on Cy's list, and its page does not exist for Cy.
        theirs = await page(cy, disclosures)
        assert disclosure_id not in theirs and "climbing gym" not in theirs
        missing = await page(cy, location, status=404)
        assert "There is nothing here" in text_of(missing)
        assert "climbing gym" not in missing

        # A correction starts from the same audience; asking for one reveals nothing to Cy.
        correcting = f"{disclosures}?corrects_disclosure_id={disclosure_id}"
        assert f'href="{correcting}#tell"' in after
        draft = await page(ash, correcting)
        assert f'name="corrects_disclosure_id" value="{disclosure_id}"' in draft
        assert f'value="{member_id(bo)}" checked' in draft
        assert disclosure_id not in await page(cy, correcting)


async def test_the_preview_without_script_names_exactly_who_will_read_it(
    client: Client,
) -> None:
    async with person(client, "ash") as ash, person(client, "bob") as bo, \
            person(client, "cyd") as cy:
        polycule = await polycule_of(ash, bo, cy)
        disclosures = f"/polycules/{polycule}/disclosures"
        form = await page(ash, disclosures)
        assert "data-preview-button" in form and 'formmethod="get"' not in form
        assert f'formaction="{disclosures}#tell"' in form
        assert "Ash (you)" not in who_will_see(form)

        # The preview button posts the whole form back to this page (the draft never goes
        # into an address), which answers with the page itself.
        previewing = await submit(ash, disclosures, [
            ("audience", "chosen"), ("recipients[]", member_id(bo)),
            ("kind", "feelings"), ("text", "Still <thinking> about it"),
        ], return_to=f"{disclosures}/{{disclosure_id}}")
        assert previewing.status == 200
        previewed = await previewing.text()
        assert who_will_see(previewed) == (
            "Exactly these people will be able to read it: Ash (you) Bob"
        )
        # The draft is kept, checked as it was, and still escaped.
        assert f'value="{member_id(bo)}" checked' in previewed
        assert f'value="{member_id(cy)}" checked' not in previewed
        assert "Still &lt;thinking&gt; about it</textarea>" in previewed
        assert '<option value="feelings" selected>' in previewed

        everyone = await (await submit(ash, disclosures, {"audience": "polycule"})).text()
        assert who_will_see(everyone) == (
            "Exactly these people will be able to read it: Ash (you) Bob Cyd"
        )
        # Nothing was sent by previewing.
        assert await ash.json("GET", f"/api{disclosures}") == []
