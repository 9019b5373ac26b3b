"""Mail notices in the web client: the settings page (the address, whether it is
confirmed, and how soon each kind is told), and the two pages the links in a mail open.

The settings page asks the API's typed queries (ledger/http/email_routes.py) after the
same policy rule; its forms post to addresses of their own here, served by the API's very
views (a form cannot PUT or DELETE). The confirmation link's page shows a button and only
its POST confirms, and likewise the unsubscribe link's: a GET never changes anything (mail
scanners and link previews open every link they see). The unsubscribe POST is also what a
mail program sends by itself for a one-click unsubscribe (RFC 8058); it is answered with a
page, which such a program ignores.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from aiohttp import web

from ledger.errors import NotFound
from ledger.http import email_routes
from ledger.http.authorization import caller_of
from ledger.http.keys import CLOCK, POOL, SETTINGS
from ledger.mail import addresses
from ledger.web.reading import Page
from ledger.web.rendering import reader_zone, render

CHOICE_WORDS = {"now": "At once", "digest": "In the daily digest", "never": "Never"}
SAVED = {
    "address": "Your address is kept. Follow the link we mailed to it to confirm it.",
    "forgotten": "Your address is forgotten: no mail will be sent to you.",
    "choices": "Your choices are saved.",
}


async def email_settings(request: web.Request) -> web.Response:
    me = caller_of(request)
    email = await email_routes.email_view(request.app, me)
    notifications = await email_routes.notifications_view(request.app, me)
    return await render(request, "email.html", {
        "email": email,
        "notifications": notifications,
        "choice_words": CHOICE_WORDS,
        "saved": SAVED.get(request.query.get("saved", "")),
        "digest_at": await _digest_time(request),
    })


async def _digest_time(request: web.Request) -> str:
    """The hour the daily digest goes out (kept in UTC), as the reader's clock shows it
    today: "07:00 CET"."""
    hour = request.app[SETTINGS].mail_digest_hour
    today = request.app[CLOCK].now().astimezone(UTC).date()
    moment = datetime.combine(today, time(hour), UTC).astimezone(await reader_zone(request))
    return f"{moment:%H:%M} {moment.tzname()}"


async def confirmation_page(request: web.Request) -> web.Response:
    return await render(request, "email_confirm.html", {"confirmed": False})


async def confirm(request: web.Request) -> web.Response:
    await email_routes.confirm(request.app, request.match_info["token"])
    return await render(request, "email_confirm.html", {"confirmed": True})


async def unsubscribe_page(request: web.Request) -> web.Response:
    return await render(request, "unsubscribe.html", {"unsubscribed": False})


async def unsubscribe(request: web.Request) -> web.Response:
    if not await addresses.unsubscribe(request.app[POOL], request.match_info["token"]):
        raise NotFound(
            "this unsubscribe link names nobody: the address it was sent to was changed or "
            "forgotten since, and gets no mail from us any more"
        )
    return await render(request, "unsubscribe.html", {"unsubscribed": True})


PAGES: tuple[Page, ...] = (
    ("GET", "/account/email", email_settings),
    # The API's PUT and DELETE of the address and PUT of the choices, for forms.
    ("POST", "/account/email", email_routes.set_email),
    ("POST", "/account/email/forget", email_routes.forget_email),
    ("POST", "/account/notifications", email_routes.set_notifications),
    ("GET", "/email/confirm/{token}", confirmation_page),
    ("POST", "/email/confirm/{token}", confirm),
    ("GET", "/unsubscribe/{token}", unsubscribe_page),
    ("POST", "/unsubscribe/{token}", unsubscribe),
)
