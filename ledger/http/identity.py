"""Who is calling: the session cookie or a Bearer token, resolved once per request.

``authentication_middleware`` puts an ``Identity`` on the request (or nothing, for an
anonymous caller); views and the authorization policy ask ``identity_of`` or
``require_identity``. It runs inside the error middleware, so its refusals are JSON.

It also guards against cross-site request forgery. A browser attaches the session cookie
to requests other sites make it send; so every state-changing request authenticated by
the cookie must echo the session's CSRF token in ``X-CSRF-Token``, which another site
cannot read (the web client's forms, which cannot set headers, carry it in a hidden
``csrf_token`` field instead). A Bearer token is never attached by a browser on its own,
so those requests need no CSRF token. Independently, an unsafe request whose ``Origin``
names another site is refused unless a Bearer token authenticates it: that also stops a
foreign page from signing a browser in to an account of the attacker's choosing ("login CSRF").

A presented credential that does not authenticate (expired, ended, revoked) leaves the
caller anonymous: a stale cookie must not stop anyone from signing in again. When an
``Authorization`` header is present the cookie is not looked at.

The health probes (``HEALTH_PROBES``) never look at credentials at all: they answer for the
process and the database, whoever asks, and a probe that happens to carry a cookie or a
token must not fail because looking it up needs the database.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from ledger.auth.policy import polycule_id_from_path
from ledger.auth.sessions import SESSION_COOKIE, Sessions, csrf_token_for
from ledger.auth.tokens import ApiTokens
from ledger.errors import Forbidden, NotFound, Unauthenticated
from ledger.http.parsing import CSRF_FIELD, is_form_post

CSRF_HEADER = "X-CSRF-Token"
# Set by browsers (Fetch Metadata), never by a page's script: where a request came from.
_FETCH_SITE = "Sec-Fetch-Site"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
HEALTH_PROBES = frozenset({"/healthz", "/readyz"})
# The one-click unsubscribe link of every mail (RFC 8058): a mail program POSTs to it by
# itself, from its own servers, with no cookie, no CSRF token and any Origin. The token in
# the path is its only authority, and all it can do is turn mail off; so it is answered as
# to nobody, credentials unread and unchecked. Exactly this route, nothing else.
ONE_CLICK_UNSUBSCRIBE = "/unsubscribe/{token}"
_BEARER_SCHEME = "bearer"

# Set up by the accounts context (ledger/http/account_routes.py) when the app starts.
SESSIONS = web.AppKey("sessions", Sessions)
API_TOKENS = web.AppKey("api_tokens", ApiTokens)


@dataclass(frozen=True)
class Identity:
    account_id: UUID
    via: Literal["session", "token"]
    session_id: UUID | None = None
    token_id: UUID | None = None
    # Only for a session: what the caller must echo in X-CSRF-Token.
    csrf_token: str | None = field(default=None, repr=False)


IDENTITY = web.RequestKey("identity", Identity)


@dataclass(frozen=True)
class PolyculePosition:
    """Where the polycule the path names stood when the caller was looked up, read in the
    credential's own round trip: the authorization middleware folds that polycule only if
    this instance's kept state of it is older than ``stream`` (ledger/http/authorization.py);
    a read view's answer may be kept while its read models stand at ``views``
    (ledger/http/kept_answers.py)."""

    stream: int
    views: int


# Absent when no credential authenticated, or the path names no polycule.
POLYCULE_POSITION = web.RequestKey("polycule_position", PolyculePosition)


class CsrfFailed(Forbidden):
    code = "csrf_failed"


class SessionRequired(Forbidden):
    code = "session_required"


def identity_of(request: web.Request) -> Identity | None:
    return request.get(IDENTITY)


def polycule_version_seen(request: web.Request) -> int | None:
    """The stream version of the path's polycule as it was when the caller was looked up."""
    position = request.get(POLYCULE_POSITION)
    return None if position is None else position.stream


def require_identity(request: web.Request) -> Identity:
    identity = identity_of(request)
    if identity is None:
        raise Unauthenticated("sign in, or send a valid API token")
    return identity


def require_session(request: web.Request) -> Identity:
    """The caller, signed in with a session (some acts are not for API tokens)."""
    identity = require_identity(request)
    if identity.via != "session":
        raise SessionRequired("this needs a signed-in session, not an API token")
    return identity


@web.middleware
async def authentication_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    if request.path in HEALTH_PROBES or _route_of(request) == ONE_CLICK_UNSUBSCRIBE:
        return await handler(request)
    identity, position = await _resolve(request, _polycule_in_path(request))
    if position is not None:
        request[POLYCULE_POSITION] = position
    if request.method in UNSAFE_METHODS and (identity is None or identity.via == "session"):
        _refuse_foreign_origin(request)
        if identity is not None:
            await _require_csrf_token(request, identity)
    if identity is not None:
        request[IDENTITY] = identity
    return await handler(request)


def _route_of(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    if request.match_info.http_exception is not None or resource is None:
        return None
    return resource.canonical


async def still_authenticated(request: web.Request) -> bool:
    """Whether the credential this request came with still authenticates as it did: a long
    answer (a live stream) asks again now and then, and ends once the session is signed
    out, the token revoked or the account erased, wherever that happened."""
    identity = identity_of(request)
    return identity is not None and (await _resolve(request, None))[0] == identity


def _polycule_in_path(request: web.Request) -> UUID | None:
    raw = request.match_info.get("polycule_id")
    if raw is None:
        return None
    try:
        return polycule_id_from_path(raw)
    except NotFound:
        return None  # the authorization answers it as no such polycule


async def _resolve(
    request: web.Request, polycule_id: UUID | None
) -> tuple[Identity | None, PolyculePosition | None]:
    """Who is calling, and (given ``polycule_id``) where that polycule stands, in one round
    trip."""
    authorization = request.headers.get(hdrs.AUTHORIZATION)
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != _BEARER_SCHEME or not token.strip():
            return None, None
        bearer = await request.app[API_TOKENS].bearer(token.strip(), stream_id=polycule_id)
        if bearer is None:
            return None, None
        return (
            Identity(bearer.account_id, "token", token_id=bearer.token_id),
            _position(bearer.stream_version, bearer.views_version),
        )
    session_token = request.cookies.get(SESSION_COOKIE)
    if not session_token:
        return None, None
    session = await request.app[SESSIONS].live(session_token, stream_id=polycule_id)
    if session is None:
        return None, None
    identity = Identity(
        session.account_id,
        "session",
        session_id=session.id,
        csrf_token=csrf_token_for(session_token),
    )
    return identity, _position(session.stream_version, session.views_version)


def _position(stream: int | None, views: int | None) -> PolyculePosition | None:
    return None if stream is None or views is None else PolyculePosition(stream, views)


async def _require_csrf_token(request: web.Request, identity: Identity) -> None:
    offered = request.headers.get(CSRF_HEADER, "")
    if not offered and is_form_post(request):
        field = (await request.post()).get(CSRF_FIELD)
        offered = field if isinstance(field, str) else ""
    expected = identity.csrf_token or ""
    # Constant time, so the token cannot be found a character at a time.
    if not offered or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise CsrfFailed(
            f"a signed-in browser's change must carry the session's {CSRF_HEADER} header "
            "(GET /api/session gives it)"
        )


def _refuse_foreign_origin(request: web.Request) -> None:
    origin = request.headers.get(hdrs.ORIGIN)
    fetch_site = request.headers.get(_FETCH_SITE)
    if fetch_site in {"cross-site", "same-site"}:
        raise CsrfFailed("a request from another site cannot change anything here")
    if origin is None:
        return
    # A page whose Referrer-Policy is no-referrer (the web client's) posts its forms with
    # ``Origin: null``; the browser's own Sec-Fetch-Site then says whether it is ours. A
    # sandboxed frame elsewhere also sends null, but with cross-site, refused above.
    if origin.strip() == "null" and fetch_site == "same-origin":
        return
    if not _is_own_origin(origin, request):
        raise CsrfFailed("a request from another site cannot change anything here")


def _is_own_origin(origin: str, request: web.Request) -> bool:
    parts = urlsplit(origin.strip())
    if not parts.netloc or parts.netloc.lower() != request.host.lower():
        return False
    # Behind a proxy that ends TLS and is not named in LEDGER_TRUSTED_PROXIES the service
    # sees http while the browser's page is https: an https origin of this host is this
    # service. An http one is not when it is served over https.
    return parts.scheme in (request.scheme, "https")
