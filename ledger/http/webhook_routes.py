"""The webhooks API: a member's endpoints (registered, listed, edited, deleted), their
signing secrets (shown once, rotated with an overlap), their delivery log, sending a
message again and replaying what was sent since a moment; and the catalogue of types.

An endpoint URL must be https (plain http only when LEDGER_WEBHOOKS_ALLOW_HTTP is set for
development) and may not aim at this machine or a private network
(ledger/webhooks/ssrf.py; checked again at every delivery, on the address connected to).
What the views read is a typed query beside them (``catalogue``, ``endpoints_of``,
``endpoint_view``, ``messages_to``), which the web client's pages ask too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import AwareDatetime, Field, field_validator

from ledger.errors import NotFound
from ledger.http.authorization import caller_of, endpoint_of
from ledger.http.context import QueryContext, query_context
from ledger.http.keys import CLOCK, KEYRING, POOL, SETTINGS
from ledger.http.parsing import parse_body, parse_query
from ledger.http.shapes import Nothing, Strict, json_of, json_of_many
from ledger.webhooks import endpoints as store
from ledger.webhooks.catalogue import WEBHOOK_TYPES
from ledger.webhooks.delivery import replay_since, send_again
from ledger.webhooks.fanout import MESSAGE_ID
from ledger.webhooks.ssrf import check_endpoint_url


def _known_types(types: list[str]) -> list[str]:
    unknown = [name for name in types if name not in WEBHOOK_TYPES]
    if unknown:
        raise ValueError(f"unknown webhook types: {', '.join(unknown)} (see /api/webhooks/types)")
    return list(dict.fromkeys(types))


class NewEndpoint(Strict):
    url: str = Field(min_length=1, max_length=2000)
    description: str = Field(default="", max_length=500)
    # The types to send; empty: every type.
    event_types: list[str] = Field(default_factory=list, max_length=50)
    enabled: bool = True

    _types = field_validator("event_types")(_known_types)


class EndpointChange(Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, max_length=50)
    enabled: bool | None = None

    @field_validator("event_types")
    @classmethod
    def _types(cls, types: list[str] | None) -> list[str] | None:
        return None if types is None else _known_types(types)


class EndpointView(Strict):
    endpoint_id: UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    # Why the ledger disabled it: "gone" (the receiver answered 410) or "failing" (it
    # failed continuously for 5 days). Enabling it again clears this.
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointView):
    # Shown once: keep it where the receiver verifies signatures.
    secret: str


class Rotation(Strict):
    # How long the old secret keeps signing beside the new one.
    overlap_hours: int = Field(default=24, ge=0, le=168)


class NewSecret(Strict):
    secret: str
    previous_signs_until: datetime


class Replay(Strict):
    since: AwareDatetime


class Replayed(Strict):
    messages: int


class LogQuery(Strict):
    limit: int = Field(default=50, ge=1, le=500)


class AttemptView(Strict):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_snippet: str | None


class MessageView(Strict):
    message_id: str
    event_id: UUID
    polycule_id: UUID
    type: str
    payload: dict[str, Any]
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    log: list[AttemptView]


class WebhookType(Strict):
    type: str
    meaning: str


def _view(endpoint: store.Endpoint) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint.endpoint_id, "url": endpoint.url,
        "description": endpoint.description, "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since, "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def catalogue() -> list[WebhookType]:
    """Every webhook type and what it means, in the catalogue's order."""
    return [WebhookType(type=name, meaning=meaning) for name, meaning in WEBHOOK_TYPES.items()]


async def webhook_types(request: web.Request) -> web.Response:
    return json_of_many(catalogue())


async def endpoints_of(context: QueryContext, account_id: UUID) -> list[EndpointView]:
    mine = await store.of_account(context.pool, account_id)
    return [endpoint_view(endpoint) for endpoint in mine]


async def list_endpoints(request: web.Request) -> web.Response:
    return json_of_many(await endpoints_of(query_context(request), caller_of(request)))


def endpoint_view(endpoint: store.Endpoint) -> EndpointView:
    return EndpointView(**_view(endpoint))


async def create_endpoint(request: web.Request) -> web.Response:
    body = await parse_body(request, NewEndpoint)
    url = _checked_url(request, body.url)
    async with request.app[POOL].acquire() as connection, connection.transaction():
        endpoint, secret = await store.create(
            connection, request.app[KEYRING], account_id=caller_of(request), url=url,
            description=body.description, event_types=body.event_types,
            enabled=body.enabled, now=request.app[CLOCK].now(),
        )
    return json_of(EndpointCreated(**_view(endpoint), secret=secret), status=201)


async def show_endpoint(request: web.Request) -> web.Response:
    return json_of(endpoint_view(endpoint_of(request)))


async def change_endpoint(request: web.Request) -> web.Response:
    body = await parse_body(request, EndpointChange)
    endpoint = endpoint_of(request)
    url = endpoint.url if body.url is None else _checked_url(request, body.url)
    changed = await store.update(
        request.app[POOL], endpoint, url=url,
        description=endpoint.description if body.description is None else body.description,
        event_types=endpoint.event_types if body.event_types is None else body.event_types,
        enabled=endpoint.enabled if body.enabled is None else body.enabled,
        now=request.app[CLOCK].now(),
    )
    return json_of(endpoint_view(changed))


async def delete_endpoint(request: web.Request) -> web.Response:
    await store.delete(request.app[POOL], (endpoint_of(request)).endpoint_id)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    body = await parse_body(request, Rotation)
    endpoint = endpoint_of(request)
    now = request.app[CLOCK].now()
    overlap = timedelta(hours=body.overlap_hours)
    async with request.app[POOL].acquire() as connection, connection.transaction():
        secret = await store.rotate_secret(
            connection, request.app[KEYRING], endpoint, now=now, overlap=overlap
        )
    return json_of(NewSecret(secret=secret, previous_signs_until=now + overlap))


async def messages_to(
    context: QueryContext, endpoint: store.Endpoint, asked: LogQuery
) -> list[MessageView]:
    """The endpoint's delivery log: its latest messages, newest first, every attempt shown."""
    messages = await store.delivery_log(context.pool, endpoint.endpoint_id, asked.limit)
    return [
        MessageView(
            message_id=m.message_id, event_id=m.event_id, polycule_id=m.polycule_id,
            type=m.type, payload=m.payload, created_at=m.created_at, status=m.status,
            attempts=m.attempts, next_attempt_at=m.next_attempt_at,
            log=[AttemptView(**vars(attempt)) for attempt in m.log],
        )
        for m in messages
    ]


async def delivery_log(request: web.Request) -> web.Response:
    asked = parse_query(request, LogQuery)
    return json_of_many(await messages_to(query_context(request), endpoint_of(request), asked))


async def send_message_again(request: web.Request) -> web.Response:
    await parse_body(request, Nothing)
    endpoint = endpoint_of(request)
    message_id = request.match_info["message_id"]
    if not MESSAGE_ID.fullmatch(message_id) or not await store.has_message(
        request.app[POOL], endpoint.endpoint_id, message_id
    ):
        raise NotFound("no such message")
    await send_again(request.app[POOL], message_id, request.app[CLOCK].now())
    return web.Response(status=202)


async def replay(request: web.Request) -> web.Response:
    body = await parse_body(request, Replay)
    endpoint = endpoint_of(request)
    count = await replay_since(
        request.app[POOL], endpoint.endpoint_id, body.since, request.app[CLOCK].now()
    )
    return json_of(Replayed(messages=count), status=202)


def _checked_url(request: web.Request, url: str) -> str:
    settings = request.app[SETTINGS]
    return check_endpoint_url(
        url, allow_http=settings.webhooks_allow_http,
        allow_private=settings.webhooks_allow_private,
    )
