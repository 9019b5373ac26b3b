"""Signing up and signing in: the doors of the web client.

The forms post to the API itself (``POST /api/accounts``, ``POST /api/session``); signing
out posts to ``/sign-out``, served by the API's own sign-out view.
"""

from __future__ import annotations

from aiohttp import web

from ledger.auth.password_rules import MIN_PASSWORD_LENGTH
from ledger.http import account_routes
from ledger.http.identity import identity_of
from ledger.web.browser import local_path
from ledger.web.reading import Page
from ledger.web.rendering import render


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/polycules" if identity_of(request) else "/sign-in")


async def sign_in_page(request: web.Request) -> web.Response:
    next_path = local_path(request.query.get("next"))
    return await render(request, "sign_in.html", {
        "next": next_path,
        "welcome": request.query.get("welcome") == "1",
        "everywhere": request.query.get("everywhere") == "1",
        "already": identity_of(request) is not None,
    })


async def sign_up_page(request: web.Request) -> web.Response:
    return await render(request, "sign_up.html", {
        "next": local_path(request.query.get("next")),
        "min_password": MIN_PASSWORD_LENGTH,
    })


PAGES: tuple[Page, ...] = (
    ("GET", "/", home),
    ("GET", "/sign-in", sign_in_page),
    ("GET", "/sign-up", sign_up_page),
    ("POST", "/sign-out", account_routes.sign_out),
)
