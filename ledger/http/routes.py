"""Every route of the service, in one table.

The table registers the routes and generates the OpenAPI document (ledger/http/openapi.py),
so the API and its description cannot drift apart. Who may call each route is decided in
ledger/auth/policy.py, which the authorization middleware asks before any view runs.
"""

from __future__ import annotations

from aiohttp import web

from ledger.auth.accounts import NewAccount
from ledger.http import account_routes as accounts
from ledger.http import agreement_routes as agreements
from ledger.http import agreement_shapes as shapes
from ledger.http import audit_routes as audit
from ledger.http import erasure_routes as erasure
from ledger.http import operations
from ledger.http import polycule_routes as polycules
from ledger.http.openapi import Route, add_openapi_route

POLYCULE = "/api/polycules/{polycule_id}"
PROPOSAL = f"{POLYCULE}/proposals/{{proposal_id}}"
AGREEMENT = f"{POLYCULE}/agreements/{{agreement_id}}"

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
    # Proposals: the only way agreements are made, changed or ended.
    Route("GET", f"{POLYCULE}/proposals", agreements.list_proposals,
          "open proposals, with each party's answer to the current revision",
          response=shapes.ProposalView, many=True),
    Route("POST", f"{POLYCULE}/proposals", agreements.propose,
          "propose a new agreement, an amendment or an ending (your proposal is your consent)",
          shapes.NewProposal, shapes.ProposalView, 201),
    Route("GET", f"{PROPOSAL}", agreements.show_proposal, "one proposal",
          response=shapes.ProposalView),
    Route("POST", f"{PROPOSAL}/consent", agreements.consent,
          "consent to the revision you read (a party only); the last consent ratifies",
          shapes.ConsentBody, shapes.ProposalView),
    Route("POST", f"{PROPOSAL}/object", agreements.object_to,
          "object, with a reason (a party only); one objection rejects the proposal",
          shapes.ObjectionBody, shapes.ProposalView),
    Route("POST", f"{PROPOSAL}/withdraw", agreements.withdraw,
          "withdraw your own proposal", shapes.Nothing, shapes.ProposalView),
    Route("POST", f"{PROPOSAL}/revise", agreements.revise,
          "revise your own proposal: a new revision, every earlier consent cleared",
          shapes.Revision, shapes.ProposalView),
    # Agreements: what is in force, what was, and how it came to be.
    Route("GET", f"{POLYCULE}/agreements", agreements.list_agreements,
          "agreements in force now; with as_of, an InForceView of those in force then",
          response=shapes.AgreementView, many=True, query=shapes.AgreementsQuery),
    Route("GET", f"{AGREEMENT}", agreements.show_agreement,
          "one agreement (in force or ended)", response=shapes.AgreementView),
    Route("GET", f"{AGREEMENT}/history", agreements.agreement_history,
          "every version, proposal, answer and review of an agreement, in order",
          response=shapes.HistoryView),
    Route("GET", f"{AGREEMENT}/diff", agreements.agreement_diff,
          "the word-level difference between two versions", response=shapes.DiffView,
          query=shapes.DiffQuery),
    Route("POST", f"{AGREEMENT}/revoke", agreements.revoke,
          "revoke your consent (a party only): the agreement ends from this moment",
          shapes.RevokeBody, shapes.AgreementView),
    Route("POST", f"{AGREEMENT}/reaffirm", agreements.reaffirm,
          "reaffirm an agreement that is due for review (a party only)",
          shapes.Nothing, shapes.AgreementView),
    Route("POST", f"{AGREEMENT}/request-review", agreements.request_review,
          "ask for a review, saying what no longer works (a party only)",
          shapes.ReviewRequestBody, shapes.AgreementView),
    # The audit view of the polycule's chain.
    Route("GET", f"{POLYCULE}/events", audit.polycule_events,
          "the polycule's events in chain order, opaque where you may not read them",
          response=audit.AuditPage, query=audit.EventsQuery),
    Route("GET", f"{POLYCULE}/verify", audit.verify_polycule,
          "recompute the polycule's hash chain", response=audit.VerificationView),
    # Mine, across polycules.
    Route("GET", "/api/me/inbox", agreements.my_inbox,
          "proposals awaiting my answer and reviews due, across my polycules",
          response=shapes.InboxView),
    Route("POST", "/api/clarity-check", agreements.clarity_check,
          "which words of a draft are known to be read differently and not yet defined",
          shapes.ClarityBody, shapes.ClarityView),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    add_openapi_route(app, ROUTES)
