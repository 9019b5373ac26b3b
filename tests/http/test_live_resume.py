"""A live stream says where it is (each message's id) and a page that reconnects goes on
from there (``Last-Event-ID``): it hears of what came after, and only that."""

from __future__ import annotations

import uuid

import pytest

from ledger.http.keys import EVENT_STORE
from ledger.http.live import read_versions_id, versions_id
from tests.http.people import person
from tests.http.polycules import polycule_of
from tests.http.streams import (
    anything_within,
    disclose,
    next_change,
    next_change_message,
    open_stream,
    opening_id,
    propose,
)
from tests.http.support import Client, error_of


async def version_of(client: Client, polycule_id: str) -> int:
    return await client.app[EVENT_STORE].stream_version(uuid.UUID(polycule_id))


async def test_each_change_names_the_polycule_version_it_reached(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        stream = await open_stream(ben, f"/api/polycules/{polycule_id}/live")
        assert await opening_id(stream) == str(await version_of(client, polycule_id))

        await propose(ana, polycule_id, ben)

        change = await next_change_message(stream)
        assert change is not None
        assert change.fields["id"] == str(await version_of(client, polycule_id))


async def test_a_reconnect_with_last_event_id_receives_only_what_came_after(
    client: Client,
) -> None:
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        # The page was drawn at this version; its stream's address says so, on every
        # reconnection too.
        live = f"/api/polycules/{polycule_id}/live?after={await version_of(client, polycule_id)}"
        stream = await open_stream(ben, live)
        await propose(ana, polycule_id, ben)
        heard = await next_change_message(stream)
        assert heard is not None and heard.types == ["AgreementProposed", "ConsentGiven"]
        stream.close()  # the connection drops

        await disclose(ana, polycule_id, ben)  # while the page is away

        again = await open_stream(ben, live, last_event_id=heard.fields["id"])
        assert await opening_id(again) == heard.fields["id"]
        change = await next_change_message(again)
        assert change is not None and change.types == ["DisclosureMade"]
        assert change.fields["id"] == str(await version_of(client, polycule_id))
        assert await anything_within(again, 1.0) is None
        # Without it the page would be told again of what it already had.
        from_the_page = await open_stream(ben, live)
        assert await next_change(from_the_page) == [
            "AgreementProposed", "ConsentGiven", "DisclosureMade",
        ]


async def test_my_stream_resumes_each_polycule_where_it_was(client: Client) -> None:
    async with person(client) as ana, person(client) as ben:
        first = await polycule_of(ana, ben, name="First")
        second = await polycule_of(ana, ben, name="Second")
        mine = await open_stream(ben, "/api/me/live")
        started_at = await opening_id(mine)
        assert read_versions_id(started_at) == {
            uuid.UUID(first): await version_of(client, first),
            uuid.UUID(second): await version_of(client, second),
        }
        await propose(ana, first, ben)
        heard = await next_change_message(mine)
        assert heard is not None
        assert read_versions_id(heard.fields["id"]) == {
            uuid.UUID(first): await version_of(client, first),
            uuid.UUID(second): await version_of(client, second),
        }
        mine.close()

        await disclose(ana, second, ben)  # while the page is away

        again = await open_stream(ben, "/api/me/live", last_event_id=heard.fields["id"])
        assert await next_change(again) == ["DisclosureMade"]
        assert await anything_within(again, 1.0) is None


async def test_a_reconnect_before_any_change_resumes_where_the_stream_began(
    client: Client,
) -> None:
    """The stream of all mine starts "from now": its opening id is what keeps a change
    made while the page was away from being lost."""
    async with person(client) as ana, person(client) as ben:
        polycule_id = await polycule_of(ana, ben)
        mine = await open_stream(ben, "/api/me/live")
        started_at = await opening_id(mine)
        mine.close()

        await propose(ana, polycule_id, ben)

        again = await open_stream(ben, "/api/me/live", last_event_id=started_at)
        assert await next_change(again) == ["AgreementProposed", "ConsentGiven"]


@pytest.mark.parametrize("last_event_id", ["soon", "-1", "1.5"])
async def test_a_malformed_last_event_id_of_a_polycule_is_refused(
    client: Client, last_event_id: str
) -> None:
    async with person(client) as ana:
        polycule_id = await polycule_of(ana)

        response = await ana.session.get(
            client.make_url(f"/api/polycules/{polycule_id}/live"),
            headers={"Last-Event-ID": last_event_id},
        )

        assert response.status == 422
        assert error_of(await response.json())["code"] == "validation_failed"


@pytest.mark.parametrize("last_event_id", [
    "not an id!",  # not base64url
    "AAAA",  # three bytes: not a whole polycule
    "17",  # a polycule's version is not where all of mine are
])
async def test_a_malformed_last_event_id_of_mine_is_refused(
    client: Client, last_event_id: str
) -> None:
    async with person(client) as ana:
        await polycule_of(ana)

        response = await ana.session.get(
            client.make_url("/api/me/live"), headers={"Last-Event-ID": last_event_id}
        )

        assert response.status == 422
        assert error_of(await response.json())["code"] == "validation_failed"


def test_the_versions_of_my_polycules_pack_into_an_id_and_back() -> None:
    seen = {uuid.uuid4(): 0, uuid.uuid4(): 17, uuid.uuid4(): 2**40}

    packed = versions_id(seen)

    assert read_versions_id(packed) == seen
    assert len(packed) == 32 * len(seen)
    assert read_versions_id(versions_id({})) == {}
