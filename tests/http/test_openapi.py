"""The OpenAPI 3.1 document is generated from the very routes and models that serve it."""

from __future__ import annotations

from ledger.http.routes import ROUTES
from tests.http.people import person
from tests.http.support import Client


async def test_the_document_describes_every_route_with_its_models(client: Client) -> None:
    response = await client.get("/api/openapi.json")

    assert response.status == 200
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    described = {(method.upper(), path) for path, item in document["paths"].items()
                 for method in item}
    served = {(route.method, route.path) for route in ROUTES}
    served.add(("GET", "/api/openapi.json"))
    assert described | {("GET", "/api/openapi.json")} == served
    invite = document["paths"]["/api/polycules/{polycule_id}/invitations"]["post"]
    assert invite["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Invite"
    }
    assert set(invite["responses"]) >= {"201", "202", "401", "404", "409", "422"}
    # A command may be recorded while its polycule's views are behind; a read never is.
    assert invite["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ViewsBehind"
    }
    assert "202" not in document["paths"]["/api/polycules/{polycule_id}"]["get"]["responses"]
    preview = document["paths"]["/api/polycules/{polycule_id}/disclosures/preview"]["post"]
    assert "202" not in preview["responses"]
    schema = document["components"]["schemas"]["Invite"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["expires_in_hours"]["maximum"] == 720


async def test_a_body_the_document_forbids_is_refused_naming_the_field(client: Client) -> None:
    async with person(client) as someone:
        response = await someone.request("POST", "/api/polycules",
                                         json={"name": "Pancakes", "colour": "blue"})

        assert response.status == 422
        assert "colour" in await response.text()
        assert await someone.json("GET", "/api/polycules") == []


async def test_answers_that_are_not_json_say_what_they_are(client: Client) -> None:
    paths = (await (await client.get("/api/openapi.json")).json())["paths"]

    export = paths["/api/polycules/{polycule_id}/audit-export"]["get"]["responses"]["200"]
    live = paths["/api/polycules/{polycule_id}/live"]["get"]
    assert set(export["content"]) == {"application/x-ndjson"}
    assert set(live["responses"]["200"]["content"]) == {"text/event-stream"}
    assert [parameter["name"] for parameter in live["parameters"]] == ["after"]
    assert set(paths["/api/me/live"]["get"]["responses"]["200"]["content"]) == {
        "text/event-stream"
    }
