"""Rendering the web client's pages: one Jinja2 environment, autoescaping everything, and
the context every page shares (who is signed in, the form's CSRF token, where we are).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import aiohttp_jinja2
import jinja2
import pydantic_core
import structlog
from aiohttp import web

from ledger.database import BUSY_OR_AWAY
from ledger.http.account_routes import ACCOUNTS
from ledger.http.context import query_context
from ledger.http.identity import Identity, identity_of
from ledger.http.inbox_routes import unread_of

log = structlog.get_logger(__name__)

# The CSRF token of the page being rendered, for the form macros (imported macros do not
# see the template's context; they see the environment's globals).
_FORM_TOKEN: ContextVar[str] = ContextVar("form_token", default="")


def setup(app: web.Application) -> None:
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("ledger.web", "templates"),
        # Every value is escaped, whichever the template's name; nothing is marked safe.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["day"] = day
    environment.filters["iso"] = iso
    environment.filters["uuid"] = as_uuid
    static = app.router.named_resources()["static"]
    addresses: dict[str, str] = {}

    def asset(name: str) -> str:
        # With the file's hash in the address, so a new release is never served stale;
        # aiohttp reads and hashes the file each time it is asked, so once per name here.
        if name not in addresses:
            addresses[name] = str(static.url_for(filename=name))
        return addresses[name]

    environment.globals["asset"] = asset
    environment.globals["form_token"] = _FORM_TOKEN.get


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    identity = identity_of(request)
    me = await request.app[ACCOUNTS].by_id(identity.account_id) if identity else None
    shared = {
        "me": me,
        "csrf_token": identity.csrf_token if identity else None,
        "here": request.path_qs,
        # Where this service is reached, for links a member sends to someone else.
        "origin": f"{request.scheme}://{request.host}",
        "path": request.path,
        # The header's count of unread inbox entries (None: not signed in, or unknown now).
        "inbox_unread": await _unread(request, identity) if me else None,
    }
    _FORM_TOKEN.set(identity.csrf_token or "" if identity else "")
    response = aiohttp_jinja2.render_template(
        template, request, {**shared, **context}, status=status
    )
    # Pages show private things: no cache along the way, nor the browser's, may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


async def _unread(request: web.Request, identity: Identity | None) -> int | None:
    """How many of the member's inbox entries are unread; None when the database cannot be
    asked now: the page is still shown, without the count."""
    if identity is None:
        return None
    try:
        return await unread_of(query_context(request), identity.account_id)
    except BUSY_OR_AWAY:
        log.warning("inbox_count_unavailable")
        return None


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A moment as people read it: 3 December 2026, 14:05 UTC."""
    moment = _moment(value)
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def iso(moment: datetime) -> str:
    """A moment as machines read it (a ``<time>``'s ``datetime``), written as the API's
    JSON writes it."""
    written: str = pydantic_core.to_jsonable_python(moment)
    return written


def as_uuid(value: Any) -> UUID:
    """An id as an event's details keep it (text), to look up by: names are by id."""
    return value if isinstance(value, UUID) else UUID(str(value))


def day(value: Any) -> str:
    """A day as people read it: 3 December 2026."""
    moment = _moment(value)
    if moment is None:
        return ""
    shown: date = moment.astimezone(UTC).date()
    return f"{shown.day} {shown:%B %Y}"
