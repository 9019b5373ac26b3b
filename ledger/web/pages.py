"""Every page of the web client, in one table, registered beside the API's routes.

Who may open each page is decided in ledger/auth/policy.py like any route: the same rule
as the API the page shows. A few actions that the API offers with DELETE (signing out,
revoking a token, deleting a webhook endpoint, erasing the account) are offered to forms,
which can only POST, at a POST address of their own served by the API's very view.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ledger.http import live
from ledger.web import (
    account_pages,
    agreement_pages,
    audit_pages,
    disclosure_pages,
    email_pages,
    inbox_pages,
    invitation_pages,
    polycule_pages,
    rendering,
    repair_pages,
    settings_pages,
    shown_once,
)
from ledger.web.reading import Page

STATIC = Path(__file__).parent / "static"

PAGES: tuple[Page, ...] = (
    *account_pages.PAGES,
    *settings_pages.PAGES,
    *email_pages.PAGES,
    *polycule_pages.PAGES,
    *invitation_pages.PAGES,
    *agreement_pages.PAGES,
    *disclosure_pages.PAGES,
    *repair_pages.PAGES,
    *audit_pages.PAGES,
    *inbox_pages.PAGES,
    *shown_once.PAGES,
)


def add_pages(app: web.Application) -> None:
    app.router.add_static("/static", STATIC, name="static", append_version=True)
    rendering.setup(app)
    live.setup(app)
    for method, path, handler in PAGES:
        app.router.add_route(method, path, handler)
