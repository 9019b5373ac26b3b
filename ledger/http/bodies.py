"""What a request's body must be before any view, page or middleware reads it.

The API reads JSON, and forms (the web client's, see ledger/http/parsing.py). This
middleware runs before the browser's (ledger/web/browser.py), which reads a posted form to
learn where to send the browser next, so that a body nobody can read is refused here once,
in the API's JSON error shape, and nothing reads it further:

- a form that cannot be read (a multipart body without its boundary, cut off, in an unknown
  transfer encoding or charset; bytes that are not UTF-8): 400 ``malformed_form``;
- any other type of body than JSON or a form: 415 ``unsupported_media_type``.

A form read here is kept by aiohttp; whoever asks for it next gets the same one.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from ledger.http import errors
from ledger.http.keys import SETTINGS
from ledger.http.parsing import (
    FORM_CONTENT_TYPES,
    MalformedForm,
    UnsupportedMediaType,
    is_form_post,
    is_json,
)

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    max_request_bytes = request.app[SETTINGS].max_request_bytes
    announced = request.content_length
    if request.method not in _WITH_BODY or (
        # Too large, whatever it is: the error middleware answers 413 before routing.
        announced is not None and announced > max_request_bytes
    ):
        return await handler(request)
    # A form is read even when it is empty: its Content-Type alone may be malformed.
    if is_form_post(request):
        try:
            await request.post()
        except web.HTTPRequestEntityTooLarge as too_large:
            return errors.http_exception_response(
                too_large, max_request_bytes=max_request_bytes
            )
        # aiohttp's multipart reader says what it could not read with these three.
        except (ValueError, LookupError, RuntimeError):
            return errors.ledger_error_response(MalformedForm(
                "the form could not be read: send it as url-encoded or multipart form data "
                "in UTF-8"
            ))
    elif request.body_exists and not is_json(request.content_type):
        accepted = ["application/json"]
        if request.method == "POST":
            accepted += sorted(FORM_CONTENT_TYPES)
        return errors.ledger_error_response(UnsupportedMediaType(
            f"this service reads bodies of type {', '.join(accepted)}, not "
            f"{request.content_type}",
            details={"accepted": accepted},
        ))
    return await handler(request)
