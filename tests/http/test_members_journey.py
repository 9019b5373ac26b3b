"""Two people, over HTTP against real PostgreSQL: sign up, sign in, found a polycule,
invite, accept, list the members, leave — and a third person who can learn nothing."""

from __future__ import annotations

from tests.http.people import person
from tests.http.support import Client, error_of


async def test_two_people_found_invite_join_list_and_leave(client: Client) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await robin.json("POST", "/api/polycules", 201, json={"name": "Pancakes"})
        polycule_id = polycule["id"]
        invitation = await robin.json(
            "POST", f"/api/polycules/{polycule_id}/invitations", 201,
            json={"note": "come to Sunday brunch", "expires_in_hours": 48},
        )

        joined = await sam.json("POST", f"/api/invitations/{invitation['token']}/accept",
                                json={})

        assert joined == {"id": polycule_id, "name": "Pancakes"}
        members = await sam.json("GET", f"/api/polycules/{polycule_id}/members")
        assert [(m["member_id"], m["display_name"]) for m in members] == [
            (str(robin.account_id), "Robin"), (str(sam.account_id), "Sam"),
        ]
        assert [p["id"] for p in await sam.json("GET", "/api/polycules")] == [polycule_id]
        # The invitation was single-use.
        again = await robin.request(
            "POST", f"/api/invitations/{invitation['token']}/accept", json={}
        )
        assert again.status == 409
        assert error_of(await again.json())["code"] in {"invitation_used", "already_member"}

        await sam.json("POST", f"/api/polycules/{polycule_id}/leave")

        assert await sam.json("GET", "/api/polycules") == []
        gone = await sam.request("GET", f"/api/polycules/{polycule_id}/members")
        assert gone.status == 404
        remaining = await robin.json("GET", f"/api/polycules/{polycule_id}/members")
        assert [m["member_id"] for m in remaining] == [str(robin.account_id)]


async def test_someone_outside_learns_nothing_of_a_polycule(client: Client) -> None:
    async with person(client) as member, person(client) as outsider:
        polycule_id = (await member.json("POST", "/api/polycules", 201,
                                         json={"name": "Secret garden"}))["id"]
        never_existed = "6f1c6a40-0000-4000-8000-000000000000"

        answers = []
        for target in (polycule_id, never_existed):
            for method, path in [
                ("GET", f"/api/polycules/{target}"),
                ("GET", f"/api/polycules/{target}/members"),
                ("POST", f"/api/polycules/{target}/invitations"),
                ("POST", f"/api/polycules/{target}/leave"),
            ]:
                response = await outsider.request(method, path, json={})
                answers.append((response.status, await response.json()))

        # The same answer for a real polycule and one that never existed.
        assert {status for status, _ in answers} == {404}
        assert len({str(body) for _, body in answers}) == 1
        assert "Secret garden" not in str(answers)
        assert await outsider.json("GET", "/api/polycules") == []
