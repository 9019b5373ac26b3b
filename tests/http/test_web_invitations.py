"""Secrets shown once after a redirect, invitations listed and revoked, times in the reader's
own zone, and refusals said in plain words — used as a browser without script would."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ledger.http.keys import POOL
from tests.http.people import PASSWORD, person
from tests.http.polycules import polycule_of
from tests.http.support import Client
from tests.http.test_repair_journey import agreement_between
from tests.http.web import page, shown_after, submit, submitted, text_of

_LINK = re.compile(r"/invitations/([0-9a-f]{32}\.[A-Za-z0-9_-]+)\"")


async def test_an_invitation_link_is_shown_once_after_a_redirect_and_a_reload_makes_none(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        listing = f"/polycules/{polycule}/invitations"

        made = await submit(robin, f"/api/polycules/{polycule}/invitations",
                            {"answer": "shown-once", "expires_in_hours": "24"},
                            return_to=listing)
        assert made.status == 303
        shown_at = made.headers["Location"]
        kept = await client.app[POOL].fetchval(
            "SELECT sealed::text FROM shown_once WHERE id = $1", shown_at.removeprefix("/shown/")
        )
        first = await shown_after(robin, made)
        link = _LINK.search(first)
        assert link, "the invitation's link is on the page"
        assert link.group(1) not in shown_at and link.group(1) not in kept  # nor kept openly
        assert f'href="{listing}"' in first  # "Done" goes back where the form was

        again = await page(robin, shown_at, status=410)
        assert link.group(1) not in again
        assert "not shown again" in text_of(again) and "Nothing new was made" in text_of(again)
        [only] = await robin.json("GET", f"/api/polycules/{polycule}/invitations")
        assert only["invited_by"] == str(robin.account_id)


async def test_a_secret_waiting_to_be_shown_is_shown_only_to_whoever_made_it(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        made = await submit(robin, "/api/tokens",
                            {"name": "calendar bot", "password": PASSWORD, "answer": "shown-once"},
                            return_to="/account")
        assert made.status == 303

        peeked = await page(sam, made.headers["Location"], status=410)
        shown = await shown_after(robin, made)

        assert "calendar bot" not in peeked and "calendar bot" in text_of(shown)


async def test_invitations_not_yet_used_are_listed_and_one_revoked_admits_nobody(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "kit") as kit:
        polycule = await polycule_of(robin, sam)
        listing = f"/polycules/{polycule}/invitations"
        assert "There are none" in text_of(await page(sam, listing))
        first = await robin.json("POST", f"/api/polycules/{polycule}/invitations", 201, json={})
        second = await robin.json("POST", f"/api/polycules/{polycule}/invitations", 201, json={})

        as_sam = await page(sam, listing)
        assert text_of(as_sam).count("Made by Robin on ") == 2
        invitation = f"/invitations/{first['token']}"
        opened = text_of(await page(kit, invitation))
        assert "Robin invites you to Pancakes" in opened

        revoke = f"/api/polycules/{polycule}/invitations/{first['invitation_id']}/revoke"
        assert f'action="{revoke}"' in as_sam
        assert await submitted(sam, revoke, {}, return_to=listing) == listing

        assert text_of(await page(sam, listing)).count("Made by Robin on ") == 1
        refused = text_of(await page(kit, invitation))
        assert "can no longer be used" in refused and "revoked" in refused
        assert "Pancakes" not in refused and "Join" not in refused
        joining = await kit.request("POST", f"/api/invitations/{first['token']}/accept", json={})
        assert joining.status == 409
        assert (await joining.json())["error"]["code"] == "invitation_revoked"
        await kit.json("POST", f"/api/invitations/{second['token']}/accept", json={})
        assert "There are none" in text_of(await page(robin, listing))


async def test_times_are_shown_in_the_readers_own_zone_kept_as_they_sign_in(
    client: Client,
) -> None:
    async with person(client, "robin") as robin:
        await robin.json("POST", "/api/tokens", 201, json={"name": "bot", "password": PASSWORD})
        before = text_of(await page(robin, "/account"))
        assert re.search(r"Made \d+ \w+ \d{4}, \d\d:\d\d UTC", before), before

        # The sign-in form sends the browser's zone (its script fills the hidden field in).
        signed_in = await robin.session.post(client.make_url("/api/session"), data={
            "handle": "robin", "password": PASSWORD, "time_zone": "Asia/Tokyo",
            "return_to": "/account", "csrf_token": robin.csrf_token,
        }, allow_redirects=False)
        assert signed_in.status == 303
        robin.csrf_token = (await robin.json("GET", "/api/session"))["csrf_token"]

        shown = text_of(await page(robin, "/account"))
        assert re.search(r"Made \d+ \w+ \d{4}, \d\d:\d\d JST", shown), shown
        assert "shown as your clock shows it, in Asia/Tokyo" in shown


async def test_a_time_zone_nobody_knows_is_refused_in_plain_words_beside_its_field(
    client: Client,
) -> None:
    async with person(client, "robin") as robin:
        refused = await submit(robin, "/account/time-zone", {"time_zone": "Mars/Olympus"},
                               return_to="/account?time-zone=changed")
        assert refused.status == 422
        said = text_of(await refused.text())
        assert re.search(r"Your time zone\s*: Please choose a time zone from the list\.", said)
        assert "expected shape" not in said

        with_script = await robin.session.post(
            client.make_url("/account/time-zone"),
            data={"time_zone": "Mars/Olympus", "csrf_token": robin.csrf_token,
                  "return_to": "/account"},
            headers={"Accept": "application/json"},
        )
        assert (await with_script.json())["plain"]["fields"] == {
            "time_zone": "Please choose a time zone from the list."
        }
        assert await submitted(robin, "/account/time-zone", {"time_zone": "Europe/Lisbon"},
                               return_to="/account?time-zone=changed")
        assert (await robin.json("GET", "/api/session"))["account"]["time_zone"] == (
            "Europe/Lisbon"
        )


async def test_when_it_happened_is_read_in_the_zone_the_form_was_filled_in(
    client: Client,
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        agreement = await agreement_between(polycule, robin, sam)
        tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
        told = f"/api/polycules/{polycule}/breaches"
        just_now = datetime.now(UTC)
        # The form's default ("just now", the page's moment), which a moment typed overrides.
        fields = {"agreement_id": agreement, "breached_by": str(sam.account_id),
                  "what_happened": "Not told first.", "local_zone": "Asia/Tokyo",
                  "happened_at": just_now.isoformat()}

        unreadable = await submit(robin, told, {**fields, "happened_at@local": "last night"})
        assert unreadable.status == 422
        assert re.search(r"When it happened\s*: Please give a day and a time\.",
                         text_of(await unreadable.text()))
        went = await submitted(robin, told, {
            **fields, "happened_at@local": f"{tokyo:%Y-%m-%dT%H:%M:%S.%f}",
        }, return_to=f"/polycules/{polycule}/breaches/{{breach_id}}")

        breach = await robin.json("GET", f"/api{went}")
        assert datetime.fromisoformat(breach["happened_at"]) == tokyo
        left_empty = await submitted(robin, told, {**fields, "happened_at@local": ""},
                                     return_to=f"/polycules/{polycule}/breaches/{{breach_id}}")
        breach = await robin.json("GET", f"/api{left_empty}")
        assert datetime.fromisoformat(breach["happened_at"]) == just_now
