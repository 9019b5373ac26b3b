"""Rendering the web client's pages: one Jinja2 environment, autoescaping everything, and
the context every page shares (who is signed in, the form's CSRF token, where we are).

Every time a page shows is in its reader's time zone: the one their account keeps (their
browser's, see ledger/web/static/app.js), UTC until the browser has said. A date-and-time
field of a form is filled in that zone (``local_input``) and read back in it: the form
sends it as ``<name>@local`` with the zone in ``local_zone`` (ledger/http/parsing.py).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from ledger.http.keys import CLOCK

log = structlog.get_logger(__name__)

# The CSRF token of the page being rendered, for the form macros (imported macros do not
# see the template's context; they see the environment's globals).
_FORM_TOKEN: ContextVar[str] = ContextVar("form_token", default="")
# The time zone of the page being rendered's reader, for the filters that show times.
_READER_ZONE: ContextVar[str] = ContextVar("reader_zone", default="UTC")


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
    environment.filters["local_input"] = local_input
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
    environment.globals["reader_zone"] = _READER_ZONE.get


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
        # The moment the page is drawn at, by the application's clock (a form's default).
        "now": request.app[CLOCK].now(),
        # The polycule whose record this page checks in the background, if any.
        "witness_polycule": _witnessed_polycule(request.path) if me else None,
    }
    _FORM_TOKEN.set(identity.csrf_token or "" if identity else "")
    _READER_ZONE.set(zone_named(me.time_zone if me else None).key)
    response = aiohttp_jinja2.render_template(
        template, request, {**shared, **context}, status=status
    )
    # Pages show private things: no cache along the way, nor the browser's, may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


# A page of one polycule: /polycules/{id} and everything under it.
_POLYCULE_PAGE = re.compile(
    r"^/polycules/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(/.*)?$"
)


def _witnessed_polycule(path: str) -> str | None:
    """The polycule a page belongs to, whose record the member's browser checks in the
    background on it (ledger/web/static/witness.js); not on the record page itself, which
    checks it in the open."""
    match = _POLYCULE_PAGE.match(path)
    if match is None or match.group(2) == "/audit":
        return None
    return match.group(1)


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


def zone_named(name: str | None) -> ZoneInfo:
    """The zone an account keeps; UTC for none (or one this machine no longer knows)."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def reader_zone(request: web.Request) -> ZoneInfo:
    """The time zone of whoever is asking for a page (for a page that reads a moment)."""
    identity = identity_of(request)
    me = await request.app[ACCOUNTS].by_id(identity.account_id) if identity else None
    return zone_named(me.time_zone if me else None)


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A moment as its reader reads it, in their zone: 3 December 2026, 15:05 CET."""
    moment = _moment(value)
    if moment is None:
        return ""
    moment = moment.astimezone(ZoneInfo(_READER_ZONE.get()))
    return f"{moment.day} {moment:%B %Y, %H:%M} {moment.tzname()}"


def local_input(value: Any) -> str:
    """A moment as a date-and-time field holds it, in its reader's zone: 2026-12-03T15:05."""
    moment = _moment(value)
    if moment is None:
        return ""
    return f"{moment.astimezone(ZoneInfo(_READER_ZONE.get())):%Y-%m-%dT%H:%M}"


def iso(moment: datetime) -> str:
    """A moment as machines read it (a ``<time>``'s ``datetime``), written as the API's
    JSON writes it."""
    written: str = pydantic_core.to_jsonable_python(moment)
    return written


def as_uuid(value: Any) -> UUID:
    """An id as an event's details keep it (text), to look up by: names are by id."""
    return value if isinstance(value, UUID) else UUID(str(value))


def day(value: Any) -> str:
    """A day as its reader reads it, in their zone: 3 December 2026."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"{value.day} {value:%B %Y}"  # a day already: no zone to move it by
    moment = _moment(value)
    if moment is None:
        return ""
    shown: date = moment.astimezone(ZoneInfo(_READER_ZONE.get())).date()
    return f"{shown.day} {shown:%B %Y}"
