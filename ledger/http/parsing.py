"""Reading a request's JSON body (or query string) into a pydantic model, the first step of
every view that takes input.

Malformed JSON is the client's syntax error (400, InvalidInput); well-formed JSON of the
wrong shape raises pydantic's ValidationError, which errors.py answers with 422.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from ledger.errors import InvalidInput, NotFound

Model = TypeVar("Model", bound=BaseModel)


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    if not request.body_exists:
        # An action that needs no words may be sent without a body at all.
        return model.model_validate({})
    try:
        # A body over client_max_size raises HTTPRequestEntityTooLarge here (413).
        document = await request.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise InvalidInput("the request body is not valid JSON") from None
    return model.model_validate(document)


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """The query string as a model: an unknown or malformed parameter is a 422."""
    return model.model_validate(dict(request.query))


def path_id(request: web.Request, name: str, what: str) -> UUID:
    """The id in the path's ``name``; a malformed one names nothing: 404 "no such <what>"."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound(f"no such {what}") from None
