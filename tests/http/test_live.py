"""Live updates: a member's open page hears that something they may read has changed, and
nothing else — not a disclosure told to others, nothing once they have left."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.streams import anything_within, disclose, next_change, open_stream, propose
from tests.http.support import Client


async def test_a_disclosure_wakes_only_the_pages_of_those_told(client: Client) -> None:
    async with person(client) as ana, person(client) as ben, person(client) as cy:
        polycule_id = await polycule_of(ana, ben, cy)
        live = f"/api/polycules/{polycule_id}/live"
        bens, cys = await open_stream(ben, live), await open_stream(cy, live)

        await disclose(ana, polycule_id, ben)
        assert await next_change(bens) == ["DisclosureMade"]
        # Cy hears of the next thing every member may read, and never of the disclosure.
        await propose(ana, polycule_id, ben)
        assert await next_change(cys) == ["AgreementProposed", "ConsentGiven"]
        assert await next_change(bens) == ["AgreementProposed", "ConsentGiven"]


async def test_a_change_between_drawing_the_page_and_opening_the_stream_is_not_missed(
    client: Client,
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        html = await (await ben.session.get(client.make_url(f"/polycules/{polycule_id}"))).text()
        live = html.split('data-live="', 1)[1].split('"', 1)[0].replace("&amp;", "&")

        await propose(ana, polycule_id, ben)
        stream = await open_stream(ben, live)

        assert await next_change(stream) == ["AgreementProposed", "ConsentGiven"]


async def test_a_member_who_leaves_stops_hearing_at_once(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        stream = await open_stream(ben, f"/api/polycules/{polycule_id}/live")

        await ben.json("POST", f"/api/polycules/{polycule_id}/leave")

        assert await next_change(stream) is None


async def test_my_stream_follows_every_polycule_i_belong_to(client: Client) -> None:
    """A polycule joined after the stream opened is found when the stream next looks: at
    its keep-alive (tests/http/test_live_limits.py) or, here, woken by one it follows."""
    async with person(client) as ana, person(client) as ben:
        first = await polycule_of(ana, ben, name="First")
        mine = await open_stream(ben, "/api/me/live")
        second = await polycule_of(ana, ben, name="Second")

        await propose(ana, first, ben)
        assert await next_change(mine) == ["AgreementProposed", "ConsentGiven", "MemberJoined"]
        await propose(ana, second, ben)
        assert await next_change(mine) == ["AgreementProposed", "ConsentGiven"]


async def test_a_breach_wakes_only_its_audience(client: Client) -> None:
    async with person(client) as ana, person(client) as ben, person(client) as cy:
        polycule_id = await polycule_of(ana, ben, cy)
        proposal = await propose(ana, polycule_id, ben)
        await ben.json("POST", f"/api/polycules/{polycule_id}/proposals/"
                               f"{proposal['proposal_id']}/consent", json={"revision": 1})
        live = f"/api/polycules/{polycule_id}/live"
        bens, cys = await open_stream(ben, live), await open_stream(cy, live)

        await ana.json("POST", f"/api/polycules/{polycule_id}/breaches", 201, json={
            "agreement_id": proposal["agreement_id"], "breached_by": str(ben.account_id),
            "happened_at": datetime.now(UTC).isoformat(), "what_happened": "No text.",
        })

        assert await next_change(bens) == ["BreachReported"]
        assert await anything_within(cys, 1.0) is None


async def test_another_polycules_activity_does_not_show_on_a_stream(client: Client) -> None:
    """Not even as the timing of a keep-alive: a stream is quiet while others are busy."""
    async with person(client) as ana, person(client) as ben, person(client) as cy:
        mine = await polycule_of(ana, ben, name="Mine")
        theirs = await polycule_of(cy, name="Theirs")
        stream = await open_stream(ben, f"/api/polycules/{mine}/live")

        for _ in range(3):
            await propose(cy, theirs)

        assert await anything_within(stream, 1.0) is None


async def test_a_malformed_starting_version_is_refused_and_changes_nothing(
    client: Client,
) -> None:
    async with person(client) as ana:
        polycule_id = await polycule_of(ana)
        response = await ana.session.get(
            client.make_url(f"/api/polycules/{polycule_id}/live?after=soon")
        )

        assert response.status == 422
        assert (await response.json())["error"]["code"] == "validation_failed"
