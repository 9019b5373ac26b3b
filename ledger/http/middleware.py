"""What every request goes through: a request id, one access log line, who the client is
and how they reached us, errors as JSON.

Order matters and is set in app.py: the request id is outermost so that every answer
carries it (error answers too), the access log sees the final status, the client is
resolved before anything asks for its address or scheme, and the error middleware,
innermost, turns any exception into the JSON envelope of errors.py.

Behind a reverse proxy (one that ends TLS, say) the TCP peer is the proxy. Its
X-Forwarded-For, -Proto and -Host are believed only when the peer is one of the configured
``LEDGER_TRUSTED_PROXIES`` (aiohttp-remotes reads them; anyone else's are ignored, since any
client can send them). The request then carries the client's address (what sign-in
throttling counts) and scheme (what makes the session cookie Secure). Every answer to a
client that came over HTTPS carries Strict-Transport-Security, and no answer names the
server's software or its version.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network

import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_remotes import XForwardedFiltered
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


# Browsers that once reached the service over HTTPS use nothing else for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
# Whether the client reached us over HTTPS, as the client middleware found (the response
# is prepared with the request as it came in, before X-Forwarded-Proto was applied).
_OVER_HTTPS = web.RequestKey("over_https", bool)


def client_middleware(trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> Middleware:
    """Resolve the client behind a trusted proxy (see the module's text)."""
    forwarded = XForwardedFiltered(trusted_proxies)

    @web.middleware
    async def client(request: web.Request, handler: Handler) -> web.StreamResponse:
        async def resolved(as_the_client_sees_it: web.Request) -> web.StreamResponse:
            request[_OVER_HTTPS] = as_the_client_sees_it[_OVER_HTTPS] = (
                as_the_client_sees_it.secure
            )
            return await handler(as_the_client_sees_it)

        if not _is_trusted_proxy(request, trusted_proxies):
            return await resolved(request)
        try:
            return await forwarded.middleware(request, resolved)
        except web.HTTPBadRequest:
            # From aiohttp-remotes only: the error middleware inside answers the views'.
            return errors.error_response(
                400, "bad_request", "the proxy sent malformed X-Forwarded-* headers"
            )

    return client


def _is_trusted_proxy(
    request: web.Request, trusted_proxies: Sequence[IPv4Network | IPv6Network]
) -> bool:
    if not trusted_proxies or request.remote is None:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:  # a Unix socket
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped  # an IPv4 proxy reaching a dual-stack socket
    return any(peer in network for network in trusted_proxies)


async def transport_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every answer, streamed ones and aiohttp's own refusals too (an ``on_response_prepare``
    signal): HSTS over HTTPS, and no Server header naming aiohttp and Python's versions."""
    response.headers.popall(hdrs.SERVER, None)
    if request.get(_OVER_HTTPS, request.secure):
        response.headers[hdrs.STRICT_TRANSPORT_SECURITY] = STRICT_TRANSPORT_SECURITY


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
