"""Every kind of error becomes its status and the one JSON envelope, and nothing leaks.

The views raising here are added to the real app for these tests only.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import structlog
from aiohttp import web
from pydantic import BaseModel, Field
from pytest_aiohttp import AiohttpClient

from ledger.errors import (
    ConcurrencyError,
    DomainError,
    DuplicateEventError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from ledger.http.parsing import parse_body
from tests.http.support import MAX_REQUEST_BYTES, Client, error_of


class ProposalExpired(DomainError):
    """A rule's own error class, not listed in the status map: inherits DomainError's 409."""

    def __init__(self) -> None:
        super().__init__("proposal_expired", "the proposal's deadline has passed")


class Disclosure(BaseModel):
    text: str = Field(min_length=1)
    audience: list[uuid.UUID]


RAISERS: dict[str, Callable[[], Exception]] = {
    "invalid_input": lambda: InvalidInput("the cadence is unknown", details={"field": "cadence"}),
    "unauthenticated": lambda: Unauthenticated("sign in first"),
    "forbidden": lambda: Forbidden("only members of this polycule may see it"),
    "not_found": lambda: NotFound("no such agreement"),
    "concurrency": lambda: ConcurrencyError(uuid.uuid4(), 3, 4),
    "duplicate": lambda: DuplicateEventError("event id reused", details={"event_ids": ["x"]}),
    "domain": lambda: DomainError("already_ratified", "this proposal is already in force"),
    "domain_subclass": ProposalExpired,
    "validation": lambda: _validation_error(),
    "unexpected": lambda: RuntimeError("pool exhausted while reading secret-partner-name"),
}


def _validation_error() -> Exception:
    try:
        Disclosure.model_validate({"text": "", "audience": "everyone"})
    except Exception as error:  # a pydantic ValidationError, as a view would meet it
        return error
    raise AssertionError("the model accepted invalid input")


async def raise_requested_error(request: web.Request) -> web.Response:
    raise RAISERS[request.match_info["kind"]]()


async def echo_disclosure(request: web.Request) -> web.Response:
    disclosure = await parse_body(request, Disclosure)
    return web.json_response({"audience": len(disclosure.audience)})


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/healthz")


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> AsyncIterator[Client]:
    app.router.add_post("/test/raise/{kind}", raise_requested_error)
    app.router.add_post("/test/disclosures", echo_disclosure)
    app.router.add_get("/test/redirect", redirect)
    yield await aiohttp_client(app)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("invalid_input", 400, "invalid_input"),
        ("unauthenticated", 401, "unauthenticated"),
        ("forbidden", 403, "forbidden"),
        ("not_found", 404, "not_found"),
        ("concurrency", 409, "concurrency_conflict"),
        ("duplicate", 409, "duplicate_event"),
        ("domain", 409, "already_ratified"),
        ("domain_subclass", 409, "proposal_expired"),
        ("validation", 422, "validation_failed"),
        ("unexpected", 500, "internal_error"),
    ],
)
async def test_each_error_kind_has_its_status_and_code(
    client: Client, kind: str, status: int, code: str
) -> None:
    response = await client.post(f"/test/raise/{kind}")

    assert response.status == status
    assert response.content_type == "application/json"
    assert error_of(await response.json())["code"] == code
    assert response.headers["X-Request-ID"]


async def test_a_ledger_error_carries_its_message_and_details(client: Client) -> None:
    error = error_of(await (await client.post("/test/raise/concurrency")).json())

    assert error["message"].endswith("is at version 4, not 3")
    assert error["details"] == {"expected_version": 3, "actual_version": 4}


async def test_an_unexpected_error_is_logged_but_never_shown(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.post(
            "/test/raise/unexpected", headers={"X-Request-ID": "support-ticket-42"}
        )

    text = await response.text()
    assert response.status == 500
    for leaked in ("Traceback", "RuntimeError", "secret-partner-name", "raise_requested_error"):
        assert leaked not in text
    error = error_of(await response.json())
    assert error["details"] == {"request_id": "support-ticket-42"}
    [logged] = [entry for entry in logs if entry["event"] == "unhandled_error"]
    assert logged["request_id"] == "support-ticket-42"
    assert logged["log_level"] == "error"
    assert logged["exc_info"] is True  # the traceback goes to the log, with the request id


async def test_malformed_json_is_400(client: Client) -> None:
    response = await client.post(
        "/test/disclosures",
        data=b'{"text": "unterminated',
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 400
    assert error_of(await response.json())["code"] == "invalid_input"


async def test_well_formed_json_of_the_wrong_shape_is_422_without_echoing_it(
    client: Client,
) -> None:
    response = await client.post(
        "/test/disclosures", json={"text": "I met someone at the climbing gym", "audience": 7}
    )

    assert response.status == 422
    error = error_of(await response.json())
    assert error["code"] == "validation_failed"
    assert [problem["loc"] for problem in error["details"]["errors"]] == [["audience"]]
    assert "climbing gym" not in await response.text()  # personal text is never echoed


async def test_a_valid_body_reaches_the_view(client: Client) -> None:
    response = await client.post(
        "/test/disclosures", json={"text": "a new connection", "audience": [str(uuid.uuid4())]}
    )

    assert response.status == 200
    assert await response.json() == {"audience": 1}


async def test_an_announced_oversized_body_is_413_before_routing(client: Client) -> None:
    # This view never reads its body: only the up-front check can refuse it.
    response = await client.post("/test/raise/domain", data=b"x" * (MAX_REQUEST_BYTES + 1))

    assert response.status == 413
    assert response.content_type == "application/json"
    error = error_of(await response.json())
    assert error["code"] == "request_entity_too_large"
    assert error["details"] == {"max_bytes": MAX_REQUEST_BYTES}


async def test_a_streamed_oversized_body_is_413_when_read(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for _ in range(4):
            yield b" " * MAX_REQUEST_BYTES

    response = await client.post(
        "/test/disclosures", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status == 413
    assert error_of(await response.json())["code"] == "request_entity_too_large"


async def test_a_redirect_is_not_turned_into_an_error(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get(
            "/test/redirect", allow_redirects=False, headers={"X-Request-ID": "r-303"}
        )

    assert response.status == 303
    assert response.headers["Location"] == "/healthz"
    assert response.headers["X-Request-ID"] == "r-303"
    [line] = [entry for entry in logs if entry["event"] == "http_request"]
    assert (line["status"], line["request_id"]) == (303, "r-303")
