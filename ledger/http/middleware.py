"""What every request goes through: a request id, one access log line, errors as JSON.

Order matters and is set in app.py: the request id is outermost so that every answer
carries it (error answers too), the access log sees the final status, and the error
middleware, innermost, turns any exception into the JSON envelope of errors.py.
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from ledger.database import BUSY_OR_AWAY
from ledger.errors import LedgerError
from ledger.http import errors
from ledger.http.keys import DATABASE_AVAILABILITY, SETTINGS

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed only if it is short and plain, so it cannot forge log lines or
# carry personal text into them.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")

_current_request_id: ContextVar[str] = ContextVar("request_id", default="-")

# What the access log records when the client went away before an answer was sent
# (nginx's convention; no response was written).
CLIENT_CLOSED_REQUEST = 499


def current_request_id() -> str:
    return _current_request_id.get()


def _request_id_for(request: web.Request) -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    if _ACCEPTABLE_REQUEST_ID.fullmatch(offered):
        return offered
    return str(uuid.uuid4())


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = _request_id_for(request)
    token = _current_request_id.set(request_id)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await handler(request)
    except web.HTTPException as answer:  # a redirect, raised the aiohttp way
        answer.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        _current_request_id.reset(token)
    # A response the handler already streamed has sent its headers; it sets its own.
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = CLIENT_CLOSED_REQUEST
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as answer:  # a redirect, raised the aiohttp way
        status = answer.status
        raise
    finally:
        # The route's template ("/invitations/{token}"), not the path: a path may carry a
        # secret (an invitation's token); a query string may too, and bodies are never
        # logged. Which polycule a request concerned is bound by the authorization.
        log.info(
            "http_request",
            method=request.method,
            path=route_template(request),
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            request_id=current_request_id(),
        )


def route_template(request: web.Request) -> str:
    """The matched route's template ("/polycules/{polycule_id}"); the path when none matched."""
    resource = request.match_info.route.resource
    if request.match_info.http_exception is None and resource is not None:
        return resource.canonical
    return request.path


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    max_request_bytes = request.app[SETTINGS].max_request_bytes
    try:
        # Refuse an announced oversized body before routing; a chunked one is stopped by
        # aiohttp (client_max_size) when the view reads it.
        if request.content_length is not None and request.content_length > max_request_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=max_request_bytes, actual_size=request.content_length
            )
        return await handler(request)
    except web.HTTPException as exception:
        if exception.status < 400:  # redirects and the like are answers, not errors
            raise
        return errors.http_exception_response(exception, max_request_bytes=max_request_bytes)
    except errors.ViewsBehind as behind:
        return behind.answer()
    except LedgerError as error:
        return errors.ledger_error_response(error)
    except ValidationError as error:
        return errors.validation_error_response(error)
    except BUSY_OR_AWAY as error:
        # Logged once per outage, or once per time it was busy (ledger/database.py).
        await request.app[DATABASE_AVAILABILITY].met(
            error, method=request.method, path=route_template(request)
        )
        return errors.database_busy_response()
    except Exception:
        # Policy: the traceback goes to the log with the request id; the client gets a
        # generic answer with that id, never the exception's text.
        log.exception(
            "unhandled_error",
            method=request.method,
            path=request.path,
            request_id=current_request_id(),
        )
        return errors.unexpected_error_response(current_request_id())
