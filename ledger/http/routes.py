"""Every route of the service, in one table.

The table registers the routes and generates the OpenAPI document (ledger/http/openapi.py),
so the API and its description cannot drift apart. Who may call each route is decided in
ledger/auth/policy.py, which the authorization middleware asks before any view runs.
"""

from __future__ import annotations

from aiohttp import web

from ledger.auth.accounts import (
    InvalidCredentials,
    NewAccount,
    PasswordChange,
    PasswordNotConfirmed,
)
from ledger.domain import agreements as agreement_rules
from ledger.domain import disclosures as disclosure_rules
from ledger.domain import polycules as polycule_rules
from ledger.domain import repair as repair_rules
from ledger.errors import TooMany
from ledger.http import account_routes as accounts
from ledger.http import agreement_routes as agreements
from ledger.http import agreement_shapes as shapes
from ledger.http import audit_routes as audit
from ledger.http import checkpoint_routes as checkpoints
from ledger.http import device_key_routes as device_keys
from ledger.http import disclosure_routes as disclosures
from ledger.http import email_routes as email
from ledger.http import erasure_routes as erasure
from ledger.http import inbox_routes as inbox
from ledger.http import live, operations, repair_shapes
from ledger.http import past_routes as past
from ledger.http import polycule_routes as polycules
from ledger.http import repair_routes as repairs
from ledger.http import webhook_routes as webhooks
from ledger.http.identity import HEALTH_PROBES, SessionRequired
from ledger.http.openapi import Route, add_openapi_route
from ledger.http.rule_codes import rule_codes
from ledger.http.shapes import Nothing

POLYCULE = "/api/polycules/{polycule_id}"
PROPOSAL = f"{POLYCULE}/proposals/{{proposal_id}}"
AGREEMENT = f"{POLYCULE}/agreements/{{agreement_id}}"
DISCLOSURE = f"{POLYCULE}/disclosures/{{disclosure_id}}"
BREACH = f"{POLYCULE}/breaches/{{breach_id}}"
REPAIR = f"{BREACH}/repair"
ENDPOINT = "/api/webhooks/endpoints/{endpoint_id}"

# The rules each part of the domain refuses commands with (403, 409), for the document.
POLYCULE_RULES = rule_codes(polycule_rules)
AGREEMENT_RULES = rule_codes(agreement_rules)
DISCLOSURE_RULES = rule_codes(disclosure_rules)
REPAIR_RULES = rule_codes(repair_rules)

# Refusals particular to a few routes, by status and code.
_SESSION_ONLY = {403: frozenset({SessionRequired.code})}
# Acts that need the session and the password typed again (which the sign-in throttle
# also counts).
_CONFIRMED_IN_SESSION = {
    403: frozenset({SessionRequired.code, PasswordNotConfirmed.code}),
    429: frozenset({"too_many_requests"}),
}
_TOO_MANY_STREAMS = {429: frozenset({TooMany.code})}
_THROTTLED = {429: frozenset({"too_many_requests"})}

ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", operations.healthz, "the process is alive"),
    Route("GET", "/readyz", operations.readyz, "the database answers and the schema is current"),
    Route("GET", "/status", operations.status, "lags and parked polycules (operators)",
          refusals={403: frozenset({"forbidden"})}),
    Route("POST", "/api/accounts", accounts.sign_up, "sign up",
          NewAccount, accounts.AccountBody, 201,
          refusals={409: frozenset({"handle_taken"}), **_THROTTLED}),
    Route("POST", "/api/session", accounts.sign_in, "sign in (sets the session cookie)",
          accounts.SignIn, accounts.SessionBody,
          refusals={401: frozenset({InvalidCredentials.code}), **_THROTTLED}),
    Route("GET", "/api/session", accounts.who_am_i, "who is signed in, and the CSRF token",
          response=accounts.SessionBody, refusals={404: frozenset()}),
    Route("DELETE", "/api/session", accounts.sign_out, "sign out", status=204,
          refusals=_SESSION_ONLY),
    Route("DELETE", "/api/account", erasure.erase_my_account,
          "erase my account: leave every polycule and make my words unreadable "
          "(a signed-in session, with the password typed again)",
          erasure.EraseAccount, erasure.AccountErased, refusals=_CONFIRMED_IN_SESSION),
    Route("POST", "/api/account/password", accounts.change_password,
          "change my password (a signed-in session, with the current password typed again); "
          "every other session ends",
          PasswordChange, accounts.PasswordChanged, refusals=_CONFIRMED_IN_SESSION),
    Route("POST", "/api/account/sign-out-everywhere", accounts.sign_out_everywhere,
          "sign out everywhere: end every session and revoke every API token of my account "
          "(a signed-in session)",
          Nothing, accounts.SignedOutEverywhere, refusals=_SESSION_ONLY),
    Route("PUT", "/api/account/time-zone", accounts.set_time_zone,
          "the time zone my pages show times in (an IANA name; the web client sends the "
          "browser's)", accounts.TimeZoneBody, accounts.TimeZoneBody),
    Route("GET", "/api/tokens", accounts.list_tokens, "my personal API tokens"),
    Route("POST", "/api/tokens", accounts.create_token,
          "a new personal API token, shown once (a signed-in session, with the password typed "
          "again)", accounts.NewToken, accounts.IssuedTokenBody, 201,
          refusals=_CONFIRMED_IN_SESSION),
    Route("DELETE", "/api/tokens/{token_id}", accounts.revoke_token, "revoke a token",
          status=204),
    # Mail notices: an address confirmed by a mailed link, and a choice for each kind.
    Route("GET", "/api/account/email", email.show_email,
          "my address for mail notices, and whether it is confirmed", response=email.EmailView),
    Route("PUT", "/api/account/email", email.set_email,
          "set my address for mail notices: kept unconfirmed, and a link to confirm it is "
          "mailed to it (at most one a minute)", email.EmailAddressBody, email.EmailView,
          refusals={429: frozenset({TooMany.code})}),
    Route("DELETE", "/api/account/email", email.forget_email,
          "forget my address: no mail is sent any more", status=204),
    Route("POST", "/api/account/email/confirm", email.confirm_email,
          "confirm an address with the token of the link mailed to it (single-use, "
          "expiring; signed in or not)", email.ConfirmationBody, email.EmailConfirmed,
          refusals={404: frozenset()}),
    Route("GET", "/api/account/notifications", email.show_notifications,
          "what I am told by mail, each kind: now, in the daily digest, or never",
          response=email.NotificationsView),
    Route("PUT", "/api/account/notifications", email.set_notifications,
          "change how soon I am told of some kinds (the others stay as they are)",
          email.NotificationChoices, email.NotificationsView),
    Route("GET", "/api/polycules", polycules.my_polycules, "the polycules I belong to",
          response=polycules.PolyculeSummary, many=True),
    Route("POST", "/api/polycules", polycules.create_polycule, "found a polycule",
          polycules.CreatePolycule, polycules.PolyculeSummary, 201, rules=POLYCULE_RULES),
    Route("GET", "/api/polycules/{polycule_id}", polycules.show_polycule, "one of my polycules",
          response=polycules.PolyculeDetail),
    Route("GET", "/api/polycules/{polycule_id}/members", polycules.list_members,
          "the polycule's current members", response=polycules.Member, many=True),
    Route("POST", "/api/polycules/{polycule_id}/invitations", polycules.invite,
          "invite someone (single-use, expiring)", polycules.Invite,
          polycules.InvitationMade, 201, rules=POLYCULE_RULES),
    Route("GET", "/api/polycules/{polycule_id}/invitations", polycules.list_invitations,
          "the invitations not yet used, revoked nor expired: who made each, when, until when",
          response=polycules.OutstandingInvitation, many=True),
    Route("POST", "/api/polycules/{polycule_id}/invitations/{invitation_id}/revoke",
          polycules.revoke_invitation,
          "revoke an invitation not yet used (any member may): it admits nobody any more",
          response=polycules.InvitationRevokedView, rules=POLYCULE_RULES),
    Route("POST", "/api/polycules/{polycule_id}/leave", polycules.leave, "leave the polycule",
          rules=POLYCULE_RULES),
    Route("GET", "/api/invitations/{token}", polycules.show_invitation,
          "what an invitation is, for whoever holds its link: whose polycule and who sent it; "
          "for one that can no longer be used, only why not",
          response=polycules.InvitationShown, refusals={404: frozenset()}),
    Route("POST", "/api/invitations/{token}/accept", polycules.accept_invitation,
          "accept an invitation and join", polycules.Accept, polycules.PolyculeSummary,
          rules=POLYCULE_RULES),
    # Proposals: the only way agreements are made, changed or ended.
    Route("GET", f"{POLYCULE}/proposals", agreements.list_proposals,
          "open proposals, with each party's answer to the current revision",
          response=shapes.ProposalView, many=True),
    Route("POST", f"{POLYCULE}/proposals", agreements.propose,
          "propose a new agreement, an amendment or an ending (your proposal is your consent)",
          shapes.NewProposal, shapes.ProposalView, 201, rules=AGREEMENT_RULES),
    Route("GET", f"{PROPOSAL}", agreements.show_proposal, "one proposal",
          response=shapes.ProposalView),
    Route("GET", f"{PROPOSAL}/changes", agreements.show_proposal_changes,
          "what the wording to answer changes, word by word: from the version an amendment "
          "amends, and from the revision before it", response=shapes.ProposalChangesView),
    Route("POST", f"{PROPOSAL}/draft-changes", agreements.draft_changes,
          "what a draft changes in the proposal's wording, word by word (nothing is "
          "recorded: the web client asks while a proposal is reworded or asked again)",
          shapes.DraftBody, shapes.DraftChangesView),
    Route("POST", f"{PROPOSAL}/consent", agreements.consent,
          "consent to the revision you read (a party only); the last consent ratifies",
          shapes.ConsentBody, shapes.ProposalView, rules=AGREEMENT_RULES),
    Route("POST", f"{PROPOSAL}/object", agreements.object_to,
          "object, with a reason (a party only); one objection rejects the proposal",
          shapes.ObjectionBody, shapes.ProposalView, rules=AGREEMENT_RULES),
    Route("POST", f"{PROPOSAL}/comments", agreements.comment,
          "ask a question about an open proposal, or comment on it (any member; every member "
          "reads it, as they read the proposal)",
          shapes.CommentBody, shapes.ProposalView, 201, rules=AGREEMENT_RULES),
    Route("POST", f"{PROPOSAL}/withdraw", agreements.withdraw,
          "withdraw your own proposal", Nothing, shapes.ProposalView, rules=AGREEMENT_RULES),
    Route("POST", f"{PROPOSAL}/revise", agreements.revise,
          "revise your own proposal: a new revision, every earlier consent cleared",
          shapes.Revision, shapes.ProposalView, rules=AGREEMENT_RULES),
    # Agreements: what is in force, what was, and how it came to be.
    Route("GET", f"{POLYCULE}/agreements", agreements.list_agreements,
          "the agreements in force now (a list); with as_of, an InForceView of those in "
          "force then; with between, only those binding all of these members",
          response=shapes.AgreementView, many=True, query=shapes.AgreementsQuery,
          alternative=shapes.InForceView),
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
          shapes.RevokeBody, shapes.AgreementView, rules=AGREEMENT_RULES),
    Route("POST", f"{AGREEMENT}/reaffirm", agreements.reaffirm,
          "reaffirm an agreement that is due for review (a party only)",
          Nothing, shapes.AgreementView, rules=AGREEMENT_RULES),
    Route("POST", f"{AGREEMENT}/request-review", agreements.request_review,
          "ask for a review, saying what no longer works (a party only)",
          shapes.ReviewRequestBody, shapes.AgreementView, rules=AGREEMENT_RULES),
    # What is past: agreements that ended, proposals that never took effect.
    Route("GET", f"{POLYCULE}/past", past.show_past,
          "what is past: agreements that ended (how and when) and proposals rejected, "
          "withdrawn, expired or lapsed, the most recent first", response=past.PastView),
    # The audit view of the polycule's chain.
    Route("GET", f"{POLYCULE}/events", audit.polycule_events,
          "the polycule's events in chain order, opaque where you may not read them",
          response=audit.AuditPage, query=audit.EventsQuery),
    Route("GET", f"{POLYCULE}/verify", audit.verify_polycule,
          "recompute the polycule's hash chain", response=audit.VerificationView),
    Route("GET", f"{POLYCULE}/audit-export", audit.export_polycule,
          "download the whole chain as you may see it: the events' entries, one JSON line each",
          media_type="application/x-ndjson"),
    # Signed checkpoints of the polycule's Merkle tree and the proofs between them
    # (docs/verification.md); the keys they are signed with are public.
    Route("GET", f"{POLYCULE}/checkpoint", checkpoints.latest_checkpoint,
          "the latest signed checkpoint of the polycule's history (size, Merkle root, time), "
          "with the co-signatures members' devices gave it",
          response=checkpoints.CheckpointView),
    Route("GET", f"{POLYCULE}/proofs/consistency", checkpoints.consistency_proof,
          "the proof that the history of `from` events is a prefix of the history now (or "
          "of `to` events), with the signed checkpoint of the latter; 409 history_shorter "
          "when the history does not reach that far",
          response=checkpoints.ConsistencyView, query=checkpoints.ConsistencyQuery,
          refusals={409: frozenset({"history_shorter"})}),
    Route("GET", f"{POLYCULE}/proofs/inclusion", checkpoints.inclusion_proof,
          "the proof that the event at `version` is in the history of `size` events, with "
          "that history's signed checkpoint; 409 history_shorter when it does not reach",
          response=checkpoints.InclusionView, query=checkpoints.InclusionQuery,
          refusals={409: frozenset({"history_shorter"})}),
    Route("POST", f"{POLYCULE}/checkpoint/cosignatures", device_keys.cosign_checkpoint,
          "co-sign a checkpoint you verified, with one of your device keys: kept and served "
          "with the checkpoint from then on", device_keys.NewCosignature,
          checkpoints.CheckpointView, 201,
          refusals={409: device_keys.COSIGNATURE_REFUSALS}),
    Route("GET", "/api/account/device-keys", device_keys.my_device_keys,
          "my devices' keys that witness checkpoints", response=device_keys.DeviceKeyView,
          many=True),
    Route("POST", "/api/account/device-keys", device_keys.register_device_key,
          "register a device's Ed25519 public key (its private key stays on the device)",
          device_keys.NewDeviceKey, device_keys.DeviceKeyView, 201,
          refusals={409: device_keys.KEY_REFUSALS}),
    Route("DELETE", "/api/account/device-keys/{device_key_id}",
          device_keys.revoke_device_key,
          "revoke a device key: it co-signs nothing more (what it signed still verifies)",
          status=204),
    Route("GET", checkpoints.WELL_KNOWN_KEYS, checkpoints.checkpoint_keys,
          "the public keys checkpoints are signed with: the current one and those retired",
          response=checkpoints.PublishedKeys),
    # Disclosures: told to chosen members or the whole polycule, invisible to anyone else.
    Route("GET", f"{POLYCULE}/disclosures", disclosures.list_disclosures,
          "the disclosures I made or was told, newest first",
          response=disclosures.DisclosureView, many=True),
    Route("POST", f"{POLYCULE}/disclosures", disclosures.disclose,
          "disclose something to chosen members (the default) or the whole polycule",
          disclosures.NewDisclosure, disclosures.DisclosureView, 201, rules=DISCLOSURE_RULES),
    Route("POST", f"{POLYCULE}/disclosures/preview", disclosures.preview_audience,
          "exactly who would see a disclosure with this audience, before sending it",
          disclosures.AudienceQuestion, disclosures.AudiencePreview),
    Route("GET", DISCLOSURE, disclosures.show_disclosure,
          "one disclosure (its audience only), with who has acknowledged it",
          response=disclosures.DisclosureView),
    Route("POST", f"{DISCLOSURE}/acknowledge", disclosures.acknowledge,
          "acknowledge a disclosure you were told", Nothing, disclosures.DisclosureView,
          rules=DISCLOSURE_RULES),
    # Breaches: reported by the member who crossed an agreement or by another party.
    Route("GET", f"{POLYCULE}/breaches", repairs.list_breaches,
          "the breaches I may see, newest first", response=repair_shapes.BreachView, many=True),
    Route("POST", f"{POLYCULE}/breaches", repairs.report_breach,
          "report a breach (yours, or another party's); the version then in force is kept",
          repair_shapes.NewBreach, repair_shapes.BreachView, 201, rules=REPAIR_RULES),
    Route("GET", BREACH, repairs.show_breach, "one breach (its audience and supporters)",
          response=repair_shapes.BreachView),
    Route("POST", f"{BREACH}/acknowledge", repairs.acknowledge_breach,
          "acknowledge it, with your account (the member named only)",
          repair_shapes.Account, repair_shapes.BreachView, rules=REPAIR_RULES),
    Route("POST", f"{BREACH}/dispute", repairs.dispute_breach,
          "dispute it, with your account (the member named only)",
          repair_shapes.DisputedAccount, repair_shapes.BreachView, rules=REPAIR_RULES),
    Route("POST", f"{BREACH}/audience", repairs.widen_audience,
          "show it to more members (the reporter only)",
          repair_shapes.WiderAudience, repair_shapes.BreachView, rules=REPAIR_RULES),
    # The repair: its history, and each step in whatever order the people need.
    Route("GET", REPAIR, repairs.show_repair,
          "the repair's history: timeline, trust over time, commitments, factors, boundaries",
          response=repair_shapes.RepairHistoryView),
    Route("POST", f"{REPAIR}/responsibility", repairs.take_responsibility,
          "take responsibility (the member who breached)", repair_shapes.StepWords,
          repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/impact", repairs.share_impact,
          "share the impact (a harmed party)", repair_shapes.StepWords,
          repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/apology", repairs.apologise,
          "apologise (the member who breached)", repair_shapes.StepWords,
          repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/decisions", repairs.decide,
          "decide: rebuild, take space, or end the relationship (a harmed party)",
          repair_shapes.DecisionBody, repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/factors", repairs.name_factor,
          "name a contributing factor", repair_shapes.NewFactor,
          repair_shapes.RepairStepAnswer, 201, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/factors/{{factor_id}}/addressed", repairs.address_factor,
          "mark a factor addressed", repair_shapes.NoteBody, repair_shapes.RepairStepAnswer,
          rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/boundaries", repairs.link_boundary,
          "link a proposal made during the repair as a new boundary",
          repair_shapes.BoundaryBody, repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/commitments", repairs.commit,
          "make a commitment, once or every few days (the member who breached)",
          repair_shapes.NewCommitment, repair_shapes.RepairStepAnswer, 201, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/commitments/{{commitment_id}}/occurrences/{{occurrence}}",
          repairs.mark_occurrence,
          "mark an occurrence kept or missed (a harmed party, never the one who committed)",
          repair_shapes.MarkBody, repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/check-ins", repairs.check_in,
          "check in: how trust feels to you now, 0 to 10", repair_shapes.CheckInBody,
          repair_shapes.RepairStepAnswer, 201, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/supporters", repairs.invite_supporter,
          "invite a supporter (coach, therapist) to read this repair",
          repair_shapes.SupporterInvitationBody, repair_shapes.SupporterInvitationMade, 201,
          rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/restore", repairs.choose_restoration,
          "choose restoration (a harmed party); when every harmed party has, it closes restored",
          Nothing, repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("POST", f"{REPAIR}/end", repairs.end_repair,
          "close the repair as ended (any participant)", repair_shapes.NoteBody,
          repair_shapes.RepairStepAnswer, rules=REPAIR_RULES),
    Route("GET", "/api/me/supporting", repairs.my_supported_repairs,
          "the repairs I support (read-only), across polycules, newest first",
          response=repair_shapes.SupportedRepairView, many=True),
    Route("POST", "/api/supporter-invitations/{token}/accept",
          repairs.accept_supporter_invitation,
          "accept an invitation to support a repair (read-only)", Nothing,
          repair_shapes.SupportingView, rules=REPAIR_RULES),
    # Webhooks: a member's own endpoints; thin, signed messages about what concerns them.
    Route("GET", "/api/webhooks/types", webhooks.webhook_types,
          "the catalogue of webhook types", response=webhooks.WebhookType, many=True),
    Route("GET", "/api/webhooks/endpoints", webhooks.list_endpoints, "my webhook endpoints",
          response=webhooks.EndpointView, many=True),
    Route("POST", "/api/webhooks/endpoints", webhooks.create_endpoint,
          "register an endpoint (https; its signing secret is shown once)",
          webhooks.NewEndpoint, webhooks.EndpointCreated, 201),
    Route("GET", ENDPOINT, webhooks.show_endpoint, "one of my endpoints",
          response=webhooks.EndpointView),
    Route("PATCH", ENDPOINT, webhooks.change_endpoint,
          "change its address, description, types, or enable/disable it",
          webhooks.EndpointChange, webhooks.EndpointView),
    Route("DELETE", ENDPOINT, webhooks.delete_endpoint, "delete it and its log", status=204),
    Route("POST", f"{ENDPOINT}/rotate-secret", webhooks.rotate_secret,
          "a new signing secret; the old one keeps signing for the overlap",
          webhooks.Rotation, webhooks.NewSecret),
    Route("GET", f"{ENDPOINT}/messages", webhooks.delivery_log,
          "the delivery log: messages, newest first, with every attempt",
          response=webhooks.MessageView, many=True, query=webhooks.LogQuery),
    Route("POST", f"{ENDPOINT}/messages/{{message_id}}/send-again",
          webhooks.send_message_again, "send a message again (same webhook-id)", Nothing,
          status=202),
    Route("POST", f"{ENDPOINT}/replay", webhooks.replay,
          "send again everything sent to this endpoint since a moment",
          webhooks.Replay, webhooks.Replayed, 202),
    # Mine, across polycules.
    Route("GET", "/api/me/inbox", inbox.my_inbox,
          "what awaits me and what happened that concerns me, across my polycules: "
          "proposals to answer, reviews due, disclosures to acknowledge, commitments to "
          "mark, check-ins due, paused webhook endpoints; breaches told, disputes of my "
          "reports, agreements ended, reviews asked for, my commitments coming due, repairs "
          "I support; every one as an entry, read or unread",
          response=inbox.InboxView),
    Route("GET", "/api/me/inbox/unread", inbox.my_unread,
          "how many of my inbox's entries I have not read", response=inbox.Unread),
    Route("POST", "/api/me/inbox/read", inbox.mark_read,
          "mark inbox entries read, by key, or all of them (all=yes)",
          inbox.MarkRead, inbox.Unread),
    # Live updates (Server-Sent Events, text/event-stream): that something I may read
    # changed, and its event types; never a text, a name or an id. Each message's id is
    # where the stream is; sent back as Last-Event-ID, the stream goes on from there.
    Route("GET", f"{POLYCULE}/live", live.polycule_changes,
          "live: each change in this polycule that I may read (event types only); "
          "each message's id is the polycule's version, resumed from by Last-Event-ID; "
          "429 when this account already holds its most streams open",
          query=live.LiveQuery, media_type="text/event-stream", refusals=_TOO_MANY_STREAMS),
    Route("GET", "/api/me/live", live.my_changes,
          "live: each change I may read in any of my polycules (event types only); "
          "each message's id packs every polycule's version, resumed from by "
          "Last-Event-ID; 429 when this account already holds its most streams open",
          media_type="text/event-stream", refusals=_TOO_MANY_STREAMS),
    Route("POST", "/api/clarity-check", agreements.clarity_check,
          "which words of a draft are known to be read differently and not yet defined",
          shapes.ClarityBody, shapes.ClarityView),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    add_openapi_route(app, ROUTES)


def add_probes(app: web.Application) -> None:
    """A worker's routes: alive and ready, and nothing else (every other path is 404)."""
    for route in ROUTES:
        if route.path in HEALTH_PROBES:
            app.router.add_route(route.method, route.path, route.handler)
