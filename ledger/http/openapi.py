"""The API's OpenAPI 3.1 description, generated from the same routes and pydantic models
that serve it (ledger/http/routes.py), so the document cannot drift from the code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ledger.auth.policy import Rule, rule_for

_REF = "#/components/schemas/{model}"


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
    # The view records a command in its polycule (ledger/http/commands.py ``send``): it may
    # be refused by a rule or by the read models (409), or recorded while the polycule's
    # views are behind (202, ``ViewsBehind``).
    command: bool = False


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


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": property_schema}
        for name, property_schema in schema["properties"].items()
    ]


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


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    models = {model for route in routes for model in (route.request, route.response) if model}
    keyed = [(model, mode) for model in sorted(models, key=lambda m: m.__name__)
             for mode in ("validation", "serialization")]
    refs, definitions = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    schemas = dict(definitions.get("$defs", {}))
    schemas["Error"] = _error_schema()
    schemas["ViewsBehind"] = _views_behind_schema()
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {"summary": route.summary, "responses": {}}
        if route.query is not None:
            operation["parameters"] = _query_parameters(route.query)
        if route.request is not None:
            schema = refs[(route.request, "validation")]
            operation["requestBody"] = {
                "required": True, "content": {"application/json": {"schema": schema}}
            }
        if route.response is not None:
            schema = refs[(route.response, "serialization")]
            if route.many:
                schema = {"type": "array", "items": schema}
            operation["responses"][str(route.status)] = {
                "description": route.summary,
                "content": {"application/json": {"schema": schema}},
            }
        elif route.media_type is not None:
            operation["responses"][str(route.status)] = {
                "description": route.summary,
                "content": {route.media_type: {"schema": {"type": "string"}}},
            }
        else:
            operation["responses"][str(route.status)] = {"description": route.summary}
        rule = rule_for(route.method, route.path)
        if rule is not Rule.PUBLIC:
            operation["security"] = [{"session": []}, {"token": []}]
            operation["responses"]["401"] = {"description": "not signed in", **error}
        if rule not in {Rule.PUBLIC, Rule.SIGNED_IN}:
            operation["responses"]["404"] = {
                "description": "no such polycule (or resource in it), or not one you may see",
                **error,
            }
        if route.request is not None or route.query is not None:
            operation["responses"]["422"] = {"description": "invalid input", **error}
        if route.command:
            operation["responses"]["202"] = {
                "description": "recorded, but this polycule's views are behind (its read side "
                "is parked): what was decided, from the events themselves",
                "content": {"application/json": {
                    "schema": {"$ref": _REF.format(model="ViewsBehind")}
                }},
            }
            operation["responses"]["409"] = {
                "description": "refused by a rule of the domain, or not recorded because "
                "the polycule's views could not show it (not_recorded); nothing was written",
                **error,
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Polycule Agreement Ledger", "version": "0.1.0"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "ledger_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def add_openapi_route(app: web.Application, routes: Sequence[Route]) -> None:
    document = openapi_document(routes)

    async def serve_openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", serve_openapi)
