"""Reading a request's JSON body (or query string) into a pydantic model, the first step of
every view that takes input.

The body is JSON, read as UTF-8 whatever charset its Content-Type claims (RFC 8259), or a
form (the web client's, below); any other type of body is refused with 415 before a view
runs (ledger/http/bodies.py), and so is a malformed form (400). Malformed JSON — nested
deeper than any document of the API, or holding a lone surrogate — is the client's syntax
error (400, InvalidInput); well-formed JSON of the wrong shape raises pydantic's
ValidationError, which errors.py answers with 422 naming the field. So does a text that
holds a control character (only tabs and line breaks are text), in a body, a form or a
query string alike: PostgreSQL cannot keep some of them, and none belongs in what a member
writes.

The web client's forms post to the same views, form-encoded (ledger/web/browser.py answers
them with a redirect). A form's fields become the same document by one convention:
``name[]`` collects every value into a list, ``a.b`` nests one level
(``definitions.date``, ``definitions.p.m.``), an empty field is left out so the model's
default applies, and the form's own control fields (``csrf_token``, ``return_to``,
``answer``, ``local_zone``) are not part of the document. A browser's date-and-time field
sends a moment without its zone: such a field is named ``<name>@local`` and read in the
zone the form names in ``local_zone`` (its reader's, an IANA name; UTC if it names none),
becoming ``<name>`` with its offset written out; filled in, it stands over a field named
``<name>`` (the form's default).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledger.errors import InvalidInput, LedgerError, NotFound

Model = TypeVar("Model", bound=BaseModel)

# The largest numbers PostgreSQL keeps in an ``integer`` and a ``bigint`` column: a number
# the API reads is bounded by the column it ends up compared with.
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# A form's own fields, read by the authentication middleware and the form answers.
CSRF_FIELD = "csrf_token"
RETURN_TO_FIELD = "return_to"
# Asks for a page of its own instead of a redirect (a secret shown once).
ANSWER_FIELD = "answer"
# The zone a form's ``<name>@local`` date-and-time fields are read in.
LOCAL_ZONE_FIELD = "local_zone"
LOCAL_SUFFIX = "@local"
_FORM_CONTROL_FIELDS = frozenset({CSRF_FIELD, RETURN_TO_FIELD, ANSWER_FIELD, LOCAL_ZONE_FIELD})
# What a browser's datetime-local field sends: a date and a time, seconds optional.
_LOCAL_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")

# Every control character (Unicode's Cc: C0, DEL and C1) but tab, line feed and carriage
# return, which a member's text may hold; and a text as the API's description says it.
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROLS}]")
TEXT_PATTERN = f"^[^{_CONTROLS}]*$"
# A path's number (a commitment's occurrence): digits only, no sign, no leading zero.
_PATH_NUMBER = re.compile(r"[1-9][0-9]{0,9}")


class MalformedForm(InvalidInput):
    """A form body that cannot be read: a multipart body without its boundary or cut off,
    a part in an unknown encoding, bytes that are not UTF-8."""

    code = "malformed_form"


class UnsupportedMediaType(LedgerError):
    """A body of a type the API does not read (415): it reads JSON, and forms."""

    code = "unsupported_media_type"


def is_form_post(request: web.Request) -> bool:
    return request.method == "POST" and request.content_type in FORM_CONTENT_TYPES


def is_json(content_type: str) -> bool:
    """``application/json``, or a type built on it (``application/merge-patch+json``)."""
    kind, _, subtype = content_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def form_document(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """A posted form as the JSON document the API's models read (see the module's text)."""
    document: dict[str, Any] = {}
    zone = _local_zone(form.get(LOCAL_ZONE_FIELD))
    # A date-and-time field filled in stands over a field of its name without the suffix
    # (a form's default, "just now"), whichever comes first in the form.
    read_locally: set[str] = set()
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
            if key.endswith(LOCAL_SUFFIX):
                key, value = key.removesuffix(LOCAL_SUFFIX), _read_in(zone, value.strip())
                read_locally.add(key)
            elif key in read_locally:
                continue
        # One level only: a definition's word may itself hold a dot ("p.m.").
        parent, dot, leaf = key.partition(".")
        into = document.setdefault(parent, {}) if dot else document
        name = leaf if dot else key
        if not isinstance(into, dict) or isinstance(into.get(name), dict):
            raise InvalidInput(f"the form field {key!r} clashes with another")
        into[name] = value
    return document


def _local_zone(named: Any) -> ZoneInfo:
    if not isinstance(named, str) or not named.strip():
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(named.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"the form's {LOCAL_ZONE_FIELD} is not a time zone") from None


def _read_in(zone: ZoneInfo, typed: str) -> str:
    """A date-and-time field's value as the moment it means in ``zone``; anything else as
    typed, for the model to refuse naming its field."""
    if not _LOCAL_MOMENT.fullmatch(typed):
        return typed
    try:
        return datetime.fromisoformat(typed).replace(tzinfo=zone).isoformat()
    except ValueError:  # the 30th of February
        return typed


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    if not request.body_exists:
        # An action that needs no words may be sent without a body at all.
        return model.model_validate({})
    if is_form_post(request):
        # Read, and refused if malformed, before any view runs (ledger/http/bodies.py).
        return _validated(model, form_document(await request.post()))
    try:
        # A body over client_max_size raises HTTPRequestEntityTooLarge here (413).
        document = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        # Not UTF-8, nested deeper than orjson's limit (1024), a lone surrogate, NaN.
        raise InvalidInput("the request body is not valid JSON") from None
    return _validated(model, document)


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """The query string as a model: an unknown or malformed parameter is a 422."""
    return _validated(model, dict(request.query))


def path_id(request: web.Request, name: str, what: str) -> UUID:
    """The id in the path's ``name``; a malformed one names nothing: 404 "no such <what>"."""
    return named_id(request.match_info[name], what)


def named_id(raw: str, what: str) -> UUID:
    """An id as a path or a page's query string names it; a malformed one names nothing:
    404 "no such <what>"."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound(f"no such {what}") from None


def path_number(request: web.Request, name: str, what: str) -> int:
    """The positive number in the path's ``name`` (at most INTEGER_MAX); anything else names
    nothing: 404 "no such <what>"."""
    raw = request.match_info[name]
    if not _PATH_NUMBER.fullmatch(raw) or int(raw) > INTEGER_MAX:
        raise NotFound(f"no such {what}")
    return int(raw)


def _validated(model: type[Model], document: Any) -> Model:
    _refuse_control_characters(model, document)
    return model.model_validate(document)


def _refuse_control_characters(model: type[BaseModel], document: Any) -> None:
    """Every text in the document, keys included, is free of control characters; otherwise
    a ValidationError naming each place (never the text itself)."""
    problems: list[InitErrorDetails] = []
    # Walked without recursion: a document may be nested up to a thousand levels deep.
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while pending:
        location, value = pending.pop()
        if isinstance(value, str):
            if _CONTROL_CHARACTER.search(value):
                problems.append(_control_character_at(location))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _CONTROL_CHARACTER.search(key):
                    problems.append(_control_character_at((*location, key)))
                pending.append(((*location, key), item))
        elif isinstance(value, list):
            pending.extend(((*location, index), item) for index, item in enumerate(value))
    if problems:
        raise ValidationError.from_exception_data(model.__name__, sorted(
            problems, key=lambda problem: [str(part) for part in problem["loc"]]
        ))


def _control_character_at(location: tuple[str | int, ...]) -> InitErrorDetails:
    return {
        "type": PydanticCustomError(
            "control_character",
            "text may not hold control characters (tabs and line breaks are fine)",
        ),
        "loc": location,
        "input": None,
    }
