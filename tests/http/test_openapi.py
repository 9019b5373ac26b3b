"""The OpenAPI 3.1 document is generated from the very routes and models that serve it,
and says everything a client generator or a fuzzer needs: each path parameter's format,
every status an operation can answer with the error shape (the codes of 403 and 409), the
security schemes, and the shapes of answers that take more than one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ledger.domain import agreements
from ledger.http.routes import ROUTES
from ledger.http.rule_codes import rule_codes
from tests.http.conftest import TravellingClock
from tests.http.people import person
from tests.http.scene import Scene, lived_in
from tests.http.support import Client

UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    served: dict[str, Any] = await response.json()
    return served


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items()
            for method, operation in item.items()]


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
    assert [p["name"] for p in live["parameters"] if p["in"] == "query"] == ["after"]
    assert set(paths["/api/me/live"]["get"]["responses"]["200"]["content"]) == {
        "text/event-stream"
    }


async def test_every_path_parameter_is_declared_with_its_format(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}

        assert set(declared) == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        for name, parameter in declared.items():
            schema = parameter["schema"]
            assert parameter["required"] is True
            assert (schema.get("format") == "uuid" or schema.get("type") == "integer"
                    or "pattern" in schema), (path, name, schema)
    occurrence = next(
        p for _, path, operation in operations(document) if path.endswith("{occurrence}")
        for p in operation["parameters"] if p["name"] == "occurrence"
    )
    assert occurrence["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


async def test_every_status_an_operation_can_answer_is_listed_with_the_error_shape(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        if method in UNSAFE:
            assert {"400", "403", "413", "415"} <= statuses, (method, path)
        else:
            assert "415" not in statuses, (method, path)
        if path != "/healthz":
            assert "503" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert "Error" in str(schema), (method, path, status)

    consent = document["paths"][
        "/api/polycules/{polycule_id}/proposals/{proposal_id}/consent"]["post"]["responses"]
    assert set(consent) == {
        "200", "202", "400", "401", "403", "404", "409", "413", "415", "422", "503",
    }
    assert set(codes_of(consent["403"])) == {"csrf_failed", "not_a_party", "not_the_proposer"}
    assert {"proposal_closed", "concurrency_conflict", "not_recorded"} <= set(
        codes_of(consent["409"])
    )
    sign_in = document["paths"]["/api/session"]["post"]["responses"]
    assert {"401", "429"} <= set(sign_in)
    assert "invalid_credentials" in sign_in["401"]["description"]
    minting = document["paths"]["/api/tokens"]["post"]["responses"]
    assert set(codes_of(minting["403"])) == {
        "csrf_failed", "session_required", "password_incorrect"
    }
    assert "429" in document["paths"]["/api/me/live"]["get"]["responses"]


def codes_of(response: dict[str, Any]) -> list[str]:
    schema = response["content"]["application/json"]["schema"]
    codes: list[str] = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_the_codes_of_a_rule_are_read_from_its_decider() -> None:
    codes = rule_codes(agreements)

    assert {"not_a_party", "not_the_proposer"} == codes.not_permitted
    assert {"proposal_closed", "proposal_exists", "agreement_ended"} <= codes.refused
    assert not codes.not_permitted & codes.refused


async def test_the_agreements_as_of_a_moment_have_their_own_documented_shape(
    document: dict[str, Any],
) -> None:
    listing = document["paths"]["/api/polycules/{polycule_id}/agreements"]["get"]
    schema = listing["responses"]["200"]["content"]["application/json"]["schema"]

    now, then = schema["oneOf"]
    assert now == {"type": "array", "items": {"$ref": "#/components/schemas/AgreementView"}}
    assert then == {"$ref": "#/components/schemas/InForceView"}
    between = next(p for p in listing["parameters"] if p["name"] == "between")
    assert "pattern" in str(between["schema"])


async def test_the_token_the_cookie_and_the_csrf_header_are_security_schemes(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]

    assert schemes["token"] == {**schemes["token"], "type": "http", "scheme": "bearer"}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "ledger_session")
    assert (schemes["csrf"]["in"], schemes["csrf"]["name"]) == ("header", "X-CSRF-Token")
    for method, path, operation in operations(document):
        # Anyone: the probes, signing up, confirming an address with its mailed token, and
        # the keys checkpoints are signed with.
        if path in {"/healthz", "/readyz", "/api/accounts", "/api/account/email/confirm",
                    "/.well-known/ledger-checkpoint-keys"}:
            assert {} in operation["security"], (method, path)
            continue
        if path == "/status":  # the operators' alone
            assert operation["security"] == [{"operator": []}]
            assert schemes["operator"]["name"] == "X-Operator-Token"
            continue
        if path == "/api/session" and method == "post":
            continue
        cookie = {"session": [], "csrf": []} if method in UNSAFE else {"session": []}
        assert operation["security"] == [{"token": []}, cookie], (method, path)


async def test_every_creating_write_answers_with_the_id_of_what_it_made(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for method, path, operation in operations(document):
        created = operation["responses"].get("201")
        if created is None:
            continue
        reference = created["content"]["application/json"]["schema"]["$ref"]
        fields = schemas[reference.rsplit("/", 1)[-1]]["properties"]

        assert any(name == "id" or name.endswith("_id") or name.endswith("_version")
                   for name in fields), (method, path, sorted(fields))


@pytest.fixture
async def scene(client: Client, clock: TravellingClock) -> AsyncIterator[Scene]:
    async with lived_in(client, clock) as it:
        yield it


async def test_a_repair_step_answers_with_the_step_and_the_thing_it_made(
    scene: Scene,
) -> None:
    repair = scene.path(f"{scene.polycule}/breaches/{{breach_id}}/repair")

    named = await scene.robin.json("POST", f"{repair}/factors", 201,
                                   json={"factor": "communication_or_fear"})
    addressed = await scene.robin.json(
        "POST", f"{repair}/factors/{named['factor_id']}/addressed", json={}
    )
    committed = await scene.sam.json("POST", f"{repair}/commitments", 201, json={
        "what": "A walk on Saturdays.", "first_due_at": "2031-01-04T10:00:00+00:00",
    })
    checked_in = await scene.robin.json("POST", f"{repair}/check-ins", 201, json={"trust": 4})

    assert [factor["factor_id"] for factor in named["factors"]] == [named["factor_id"]]
    assert addressed["factor_id"] == named["factor_id"]
    assert committed["commitment_id"] in [c["commitment_id"] for c in committed["commitments"]]
    steps = {step["stream_version"]: step["what"] for step in checked_in["timeline"]}
    assert steps[named["step_version"]] == "FactorNamed"
    assert steps[addressed["step_version"]] == "FactorAddressed"
    assert steps[checked_in["step_version"]] == "CheckInRecorded"
    assert checked_in["factor_id"] is None and checked_in["commitment_id"] is None


async def test_a_creating_write_links_to_what_its_answer_reaches(
    document: dict[str, Any],
) -> None:
    ids = {operation["operationId"] for _, _, operation in operations(document)}
    proposing = document["paths"]["/api/polycules/{polycule_id}/proposals"]["post"]
    founding = document["paths"]["/api/polycules"]["post"]

    links = proposing["responses"]["201"]["links"]
    assert links["consent"] == {"operationId": "consent", "parameters": {
        "polycule_id": "$request.path.polycule_id", "proposal_id": "$response.body#/proposal_id",
    }}
    assert founding["responses"]["201"]["links"]["propose"]["parameters"] == {
        "polycule_id": "$response.body#/id"
    }
    assert len(ids) == len(operations(document))
    for _, _, operation in operations(document):
        for link in operation["responses"].get("201", {}).get("links", {}).values():
            assert link["operationId"] in ids


async def test_the_document_says_a_text_holds_no_control_characters(
    document: dict[str, Any],
) -> None:
    description = document["components"]["schemas"]["NewEndpoint"]["properties"]["description"]
    pattern = re.compile(description["pattern"])

    assert pattern.fullmatch("a line\r\n\tand another")
    assert not pattern.fullmatch("mine\x00") and not pattern.fullmatch("\x85")
