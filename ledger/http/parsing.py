"""Reading a request's JSON body (or query string) into a pydantic model, the first step of
every view that takes input.

Malformed JSON is the client's syntax error (400, InvalidInput); well-formed JSON of the
wrong shape raises pydantic's ValidationError, which errors.py answers with 422.

The web client's forms post to the same views, form-encoded (ledger/web/browser.py answers
them with a redirect). A form's fields become the same document by one convention:
``name[]`` collects every value into a list, ``a.b`` nests one level
(``definitions.date``, ``definitions.p.m.``), an empty field is left out so the model's
default applies, and the form's own control fields (``csrf_token``, ``return_to``,
``answer``) are not part of the document.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel

from ledger.errors import InvalidInput, NotFound

Model = TypeVar("Model", bound=BaseModel)

FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# A form's own fields, read by the authentication middleware and the form answers.
CSRF_FIELD = "csrf_token"
RETURN_TO_FIELD = "return_to"
# Asks for a page of its own instead of a redirect (a secret shown once).
ANSWER_FIELD = "answer"
_FORM_CONTROL_FIELDS = frozenset({CSRF_FIELD, RETURN_TO_FIELD, ANSWER_FIELD})


def is_form_post(request: web.Request) -> bool:
    return request.method == "POST" and request.content_type in FORM_CONTENT_TYPES


def form_document(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """A posted form as the JSON document the API's models read (see the module's text)."""
    document: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        if key in _FORM_CONTROL_FIELDS:
            continue
        values = [value for value in form.getall(key) if isinstance(value, str)]
        value: Any
        if key.endswith("[]"):
            key = key[:-2]
            value = [item for item in values if item.strip()]
        else:
            value = values[-1] if values else ""
            if not value.strip():
                continue
        # One level only: a definition's word may itself hold a dot ("p.m.").
        parent, dot, leaf = key.partition(".")
        into = document.setdefault(parent, {}) if dot else document
        name = leaf if dot else key
        if not isinstance(into, dict) or isinstance(into.get(name), dict):
            raise InvalidInput(f"the form field {key!r} clashes with another")
        into[name] = value
    return document


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    if not request.body_exists:
        # An action that needs no words may be sent without a body at all.
        return model.model_validate({})
    if is_form_post(request):
        return model.model_validate(form_document(await request.post()))
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
