"""Every route of the service, in one table.

The table registers the routes and generates the OpenAPI document (ledger/http/openapi.py),
so the API and its description cannot drift apart. Who may call each route is decided in
ledger/auth/policy.py, which the authorization middleware asks before any view runs.
"""

from __future__ import annotations

from aiohttp import web

from ledger.auth.accounts import NewAccount
from ledger.http import account_routes as accounts
from ledger.http import erasure_routes as erasure
from ledger.http import operations
from ledger.http import polycule_routes as polycules
from ledger.http.openapi import Route, add_openapi_route

ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", operations.healthz, "the process is alive"),
    Route("GET", "/readyz", operations.readyz, "the database answers and the schema is current"),
    Route("GET", "/status", operations.status, "projection lag and reader horizon"),
    Route("POST", "/api/accounts", accounts.sign_up, "sign up",
          NewAccount, accounts.AccountBody, 201),
    Route("POST", "/api/session", accounts.sign_in, "sign in (sets the session cookie)",
          accounts.SignIn, accounts.SessionBody),
    Route("GET", "/api/session", accounts.who_am_i, "who is signed in, and the CSRF token",
          response=accounts.SessionBody),
    Route("DELETE", "/api/session", accounts.sign_out, "sign out", status=204),
    Route("DELETE", "/api/account", erasure.erase_my_account,
          "erase my account: leave every polycule and make my words unreadable",
          erasure.EraseAccount, erasure.AccountErased),
    Route("GET", "/api/tokens", accounts.list_tokens, "my personal API tokens"),
    Route("POST", "/api/tokens", accounts.create_token, "a new personal API token (shown once)",
          accounts.NewToken, accounts.IssuedTokenBody, 201),
    Route("DELETE", "/api/tokens/{token_id}", accounts.revoke_token, "revoke a token",
          status=204),
    Route("GET", "/api/polycules", polycules.my_polycules, "the polycules I belong to",
          response=polycules.PolyculeSummary, many=True),
    Route("POST", "/api/polycules", polycules.create_polycule, "found a polycule",
          polycules.CreatePolycule, polycules.PolyculeSummary, 201),
    Route("GET", "/api/polycules/{polycule_id}", polycules.show_polycule, "one of my polycules",
          response=polycules.PolyculeDetail),
    Route("GET", "/api/polycules/{polycule_id}/members", polycules.list_members,
          "the polycule's current members", response=polycules.Member, many=True),
    Route("POST", "/api/polycules/{polycule_id}/invitations", polycules.invite,
          "invite someone (single-use, expiring)", polycules.Invite,
          polycules.InvitationMade, 201),
    Route("POST", "/api/polycules/{polycule_id}/leave", polycules.leave, "leave the polycule"),
    Route("POST", "/api/invitations/{token}/accept", polycules.accept_invitation,
          "accept an invitation and join", polycules.Accept, polycules.PolyculeSummary),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    add_openapi_route(app, ROUTES)
