"""The API's OpenAPI 3.1 description, generated from the same routes and pydantic models
that serve it (ledger/http/routes.py), so the document cannot drift from the code.

Each operation lists every status it can answer and why: its success (and 202 for a
command recorded while its polycule's views are behind), and the refusals, all in the one
error shape of ledger/http/errors.py. A 403 or 409 names the codes it may carry: those of
the domain's rules the route's command is decided by (read from the deciders, see
rule_codes.py) and those of the machinery around them (a missing CSRF token, a change
that raced another). Every path parameter is declared with its format, and who may call
is said with the security schemes: an API token, or the session cookie with its CSRF
token for a change.

Each operation is named by its view (``operationId``), and a write that creates something
links to the operations under it that its answer's ids reach (``links``): a proposal made
leads to consenting to it, an endpoint registered to its delivery log. A client (or the
fuzzer, tests/fuzz) can follow them from one answer to the next request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from ledger.auth.policy import Rule, rule_for
from ledger.auth.sessions import SESSION_COOKIE
from ledger.errors import ConcurrencyError, DuplicateEventError, Forbidden
from ledger.http.authorization import OPERATOR_HEADER
from ledger.http.commands import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_MAX_LENGTH
from ledger.http.identity import CSRF_HEADER, CsrfFailed
from ledger.http.invitation_tokens import INVITATION_TOKEN
from ledger.http.parsing import (
    INTEGER_MAX,
    TEXT_PATTERN,
    MalformedForm,
    UnsupportedMediaType,
)
from ledger.http.rule_codes import RuleCodes
from ledger.webhooks.fanout import MESSAGE_ID
from projections.read_side import ReadModelRefused

_REF = "#/components/schemas/{model}"
# A model's schema reference, by model and mode ("validation" for bodies, "serialization"
# for answers).
_Refs = Mapping[Any, dict[str, Any]]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # The response is a JSON array of ``response``.
    many: bool = False
    # The query parameters the view reads (parsed with ledger/http/parsing.parse_query).
    query: type[BaseModel] | None = None
    # What the answer is when it is not JSON (a download, a stream of events).
    media_type: str | None = None
    # The view records a command in its polycule (ledger/http/commands.py ``send``), which
    # these rules of the domain may refuse (403, 409); or the read models may refuse it
    # (409), or it may be recorded while the polycule's views are behind (202, ViewsBehind).
    rules: RuleCodes | None = None
    # Another shape the same answer takes for some queries (the agreements in force at a
    # moment, with ``as_of``), described with ``response`` as one of the two.
    alternative: type[BaseModel] | None = None
    # Refusals of this route's own, by status, with the codes they carry (for a 403 or a
    # 409, added to the codes listed; otherwise named in the description).
    refusals: Mapping[int, frozenset[str]] = field(default_factory=dict)


# The format of each path parameter, by name; a route whose path names another fails to
# describe itself (at start, in every test).
_UUID = {"type": "string", "format": "uuid"}
PATH_PARAMETERS: Mapping[str, tuple[dict[str, Any], str]] = {
    "polycule_id": (_UUID, "a polycule of yours"),
    "proposal_id": (_UUID, "a proposal in it"),
    "agreement_id": (_UUID, "an agreement in it"),
    "disclosure_id": (_UUID, "a disclosure you made or were told"),
    "breach_id": (_UUID, "a breach you may see"),
    "factor_id": (_UUID, "a factor named in the repair"),
    "commitment_id": (_UUID, "a commitment made in the repair"),
    "occurrence": (
        {"type": "integer", "minimum": 1, "maximum": INTEGER_MAX},
        "an occurrence of the commitment, counted from 1",
    ),
    "endpoint_id": (_UUID, "a webhook endpoint of yours"),
    "message_id": (
        {"type": "string", "pattern": f"^{MESSAGE_ID.pattern}$"},
        "a message in the endpoint's delivery log (its webhook-id)",
    ),
    "token_id": (_UUID, "one of your API tokens"),
    "device_key_id": (_UUID, "one of your device keys"),
    "invitation_id": (_UUID, "an invitation made in it"),
    "token": (
        {"type": "string", "pattern": f"^{INVITATION_TOKEN.pattern}$"},
        "the invitation's token, as it was shown once to whoever made it",
    ),
}

# A command may be sent again with the same key (a phone on a flaky connection): it is
# answered with its first outcome and applied once (ledger/http/commands.py).
_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH},
    "description": "yours to choose, one per command: the same command sent again with "
    "the same key is answered with its first outcome and applied once",
}

# What each refusal means, whatever the route.
_MEANINGS: Mapping[int, str] = {
    400: "the body is not valid JSON (or not a form that can be read), or a field breaks a "
         f"rule of its own (codes include {MalformedForm.code}); nothing was changed",
    401: "not signed in (no valid API token or session cookie)",
    403: "not allowed: a rule of the domain says this member may not do this, or a change "
         "made with the session cookie did not carry its CSRF token; nothing was changed",
    404: "no such resource, or not one you may see (a polycule you are not in, a disclosure "
         "you were not told): the two are not told apart",
    409: "refused by a rule of the domain as things stand, or it raced another change, or "
         "the polycule's views could not show it; nothing was written",
    413: "the body is larger than this service accepts",
    415: f"the body is of a type this service does not read ({UnsupportedMediaType.code}): "
         "JSON, or a form posted by the web client",
    422: "a field (of the body or the query) is missing, malformed or out of its bounds, "
         "each named in details.errors",
    429: "too many at once: wait as long as Retry-After says",
    503: "the database is busy or out of reach for a moment: send it again after "
         "Retry-After seconds (with the same Idempotency-Key, a command that did commit is "
         "answered with its outcome)",
}

# Every 409 of a command may carry these, whatever its rules.
_MACHINERY_409 = frozenset({
    ConcurrencyError.code, DuplicateEventError.code, ReadModelRefused.code,
})
# The rules that let a repair's supporter read, and refuse them anything else (403).
_SUPPORTER_RULES = frozenset({Rule.BREACH_AUDIENCE, Rule.REPAIR_READER, Rule.REPAIR_PARTICIPANT})


class _TextsWithoutControls(GenerateJsonSchema):
    """Pydantic's JSON schemas, saying of every text a request sends (a body's, a query's)
    that it holds no control character but tabs and line breaks, as parsing.py insists."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if self.mode == "validation" and not {"pattern", "format"} & set(json_schema):
            json_schema["pattern"] = TEXT_PATTERN
        return json_schema


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }},
    }


def _views_behind_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["views_behind", "message", "polycule_id", "version", "events"],
        "properties": {
            "views_behind": {"const": True},
            "message": {"type": "string"},
            "polycule_id": {"type": "string", "format": "uuid"},
            "version": {"type": "integer"},
            "events": {"type": "array", "items": {
                "type": "object", "required": ["type"],
                "properties": {"type": {"type": "string"}},
                "description": "an event that was recorded, with its ids, numbers and moments",
            }},
        },
        "description": "the ids the first event names are repeated at the top level",
    }


def _path_parameters(path: str) -> list[dict[str, Any]]:
    parameters = []
    for name in _PLACEHOLDER.findall(path):
        if name not in PATH_PARAMETERS:
            raise KeyError(f"{path}: the path parameter {name!r} has no declared format")
        schema, description = PATH_PARAMETERS[name]
        parameters.append({
            "name": name, "in": "path", "required": True, "schema": schema,
            "description": description,
        })
    return parameters


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, schema_generator=_TextsWithoutControls)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": property_schema}
        for name, property_schema in schema["properties"].items()
    ]


def _refusals(route: Route, rule: Rule) -> dict[int, frozenset[str]]:
    """Every refusal this route can answer, by status, with the codes of 403 and 409."""
    unsafe = route.method in _UNSAFE
    has_parameters = bool(_PLACEHOLDER.search(route.path))
    refusals: dict[int, set[str]] = {}
    if unsafe:
        refusals[400] = set()
        # A change made with the session cookie must carry its CSRF token.
        refusals[403] = {CsrfFailed.code}
        refusals[413] = set()
        refusals[415] = set()
    if rule not in {Rule.PUBLIC, Rule.OPERATOR}:
        refusals[401] = set()
    if rule in _SUPPORTER_RULES and unsafe:
        refusals.setdefault(403, set()).add(Forbidden.code)
    if rule not in {Rule.PUBLIC, Rule.SIGNED_IN} or has_parameters or route.rules:
        refusals[404] = set()
    if route.request is not None or route.query is not None or route.rules:
        refusals[422] = set()
    if route.rules is not None:
        if route.rules.not_permitted:
            refusals.setdefault(403, set()).update(route.rules.not_permitted)
        refusals[409] = set(route.rules.refused | _MACHINERY_409)
    if route.path != "/healthz":
        refusals[503] = set()
    for status, codes in route.refusals.items():
        refusals.setdefault(status, set()).update(codes)
    return {status: frozenset(codes) for status, codes in sorted(refusals.items())}


def _refusal(status: int, codes: frozenset[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": _REF.format(model="Error")}
    description = _MEANINGS[status]
    if status in {403, 409}:
        # Exactly these codes: a client can tell each rule's refusal from the others.
        schema = {"allOf": [schema, {"properties": {"error": {
            "properties": {"code": {"enum": sorted(codes)}}
        }}}]}
    elif codes:
        description += f" (codes: {', '.join(sorted(codes))})"
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _security(route: Route, rule: Rule) -> list[dict[str, list[str]]]:
    if rule is Rule.OPERATOR:
        return [{"operator": []}]
    with_cookie: dict[str, list[str]] = (
        {"session": [], "csrf": []} if route.method in _UNSAFE else {"session": []}
    )
    signed_in: list[dict[str, list[str]]] = [{"token": []}, with_cookie]
    # Anyone at all; one who sends a session cookie must send its CSRF token with a change.
    return [{}, *signed_in] if rule is Rule.PUBLIC else signed_in


def _success(route: Route, refs: _Refs) -> dict[str, Any]:
    if route.response is not None:
        schema = refs[(route.response, "serialization")]
        if route.many:
            schema = {"type": "array", "items": schema}
        if route.alternative is not None:
            schema = {"oneOf": [schema, refs[(route.alternative, "serialization")]]}
        return {
            "description": route.summary,
            "content": {"application/json": {"schema": schema}},
        }
    if route.media_type is not None:
        return {
            "description": route.summary,
            "content": {route.media_type: {"schema": {"type": "string"}}},
        }
    return {"description": route.summary}


def _links(made: Route, routes: Sequence[Route]) -> dict[str, Any]:
    """The operations under what ``made`` creates that its answer's ids reach, each with
    where each of its path's parameters comes from (this request's path, or the answer)."""
    if made.status != 201 or made.response is None or made.many:
        return {}
    answered = {name for name, model_field in made.response.model_fields.items()
                if model_field.is_required() and (name == "id" or name.endswith("_id"))}
    # An answer's plain ``id`` is the id of the kind the path collects ("/api/tokens": token).
    kind = made.path.rstrip("/").rsplit("/", 1)[-1].removesuffix("s").replace("-", "_")
    given = set(_PLACEHOLDER.findall(made.path))
    links: dict[str, Any] = {}
    for route in routes:
        if not route.path.startswith(f"{made.path}/"):
            continue
        parameters: dict[str, str] = {}
        for name in _PLACEHOLDER.findall(route.path):
            if name in given:
                parameters[name] = f"$request.path.{name}"
            elif name in answered:
                parameters[name] = f"$response.body#/{name}"
            elif name == f"{kind}_id" and "id" in answered:
                parameters[name] = "$response.body#/id"
            else:
                break
        else:
            if set(parameters) - given:  # reaches what was made, not only what was there
                links[route.handler.__name__] = {
                    "operationId": route.handler.__name__, "parameters": parameters,
                }
    return links


def _operation(route: Route, routes: Sequence[Route], refs: _Refs) -> dict[str, Any]:
    rule = rule_for(route.method, route.path)
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "security": _security(route, rule),
        "responses": {str(route.status): _success(route, refs)},
    }
    parameters = _path_parameters(route.path)
    if route.query is not None:
        parameters += _query_parameters(route.query)
    if route.rules is not None:
        parameters.append(_IDEMPOTENCY_KEY)
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": refs[(route.request, "validation")]
        }}}
    if route.rules is not None:
        operation["responses"]["202"] = {
            "description": "recorded, but this polycule's views are behind (its read side "
            "is parked): what was decided, from the events themselves",
            "content": {"application/json": {
                "schema": {"$ref": _REF.format(model="ViewsBehind")}
            }},
        }
    links = _links(route, routes)
    if links:
        operation["responses"][str(route.status)]["links"] = links
    for status, codes in _refusals(route, rule).items():
        operation["responses"][str(status)] = _refusal(status, codes)
    return operation


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    # Bodies are described as they are read, answers as they are written.
    keyed: set[tuple[type[BaseModel], JsonSchemaMode]] = set()
    for route in routes:
        if route.request is not None:
            keyed.add((route.request, "validation"))
        for answer in (route.response, route.alternative):
            if answer is not None:
                keyed.add((answer, "serialization"))
    refs, definitions = models_json_schema(
        sorted(keyed, key=lambda pair: (pair[0].__name__, pair[1])),
        ref_template=_REF, schema_generator=_TextsWithoutControls,
    )
    schemas = dict(definitions.get("$defs", {}))
    schemas["Error"] = _error_schema()
    schemas["ViewsBehind"] = _views_behind_schema()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, routes, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Polycule Agreement Ledger", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {
                    "type": "http", "scheme": "bearer",
                    "description": "a personal API token (POST /api/tokens, shown once)",
                },
                "session": {
                    "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                    "description": "the session cookie that signing in sets (a browser's)",
                },
                "operator": {
                    "type": "apiKey", "in": "header", "name": OPERATOR_HEADER,
                    "description": "the operators' token (LEDGER_OPERATOR_TOKEN), for /status",
                },
                "csrf": {
                    "type": "apiKey", "in": "header", "name": CSRF_HEADER,
                    "description": "with the session cookie, every change carries the "
                    "session's CSRF token (GET /api/session gives it)",
                },
            },
        },
    }


def add_openapi_route(app: web.Application, routes: Sequence[Route]) -> None:
    document = openapi_document(routes)

    async def serve_openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", serve_openapi)

