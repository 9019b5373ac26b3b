"""Who may read or do what: the one authorization module, deny by default.

Every route of the API is listed in ``ROUTE_RULES`` with the rule that guards it, and the
authorization middleware asks this module before any view runs. A route missing from the
table is refused for everyone (and the route-matrix test fails), so a route added without
a decision can never be open by accident.

For a polycule's resources the answers are: nobody signed in → 401; signed in but not a
current member → 404, exactly as if the polycule did not exist (its existence is not
revealed); a member → allowed. Who may read a breach, its repair, a check-in of the repair
and a disclosure is decided here once (``may_read_breach``, ``may_read_repair``,
``may_read_check_in``, ``may_read_disclosure``), and
every answer follows that one decision: a route naming one in its path (``authorize``), the
events of the chain (``may_read_event``), and every list — the read models' queries take
the ids that ``readable_by`` allows as a parameter and hold no rule of their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from uuid import UUID

from ledger.domain.disclosures import Disclosure
from ledger.domain.polycules import Invitation, Polycule
from ledger.domain.repair import Breach
from ledger.errors import Forbidden, NotFound, Unauthenticated


class Rule(Enum):
    # Anyone, signed in or not: probes, signing up, signing in, the API description.
    PUBLIC = "public"
    # Any signed-in account: their own session, tokens, polycules; accepting an invitation.
    SIGNED_IN = "signed_in"
    # A current member of the polycule named in the path (``{polycule_id}``).
    POLYCULE_MEMBER = "polycule_member"
    # A member in the audience of the disclosure named in the path (``{disclosure_id}``).
    DISCLOSURE_AUDIENCE = "disclosure_audience"
    # A member who may see the breach named in the path (``{breach_id}``): its agreement's
    # parties and whoever its reporter added; its repair's supporters may read it too.
    BREACH_AUDIENCE = "breach_audience"
    # A participant of the breach's repair (the member who breached, the harmed parties);
    # its supporters may read it too.
    REPAIR_READER = "repair_reader"
    # A participant of the breach's repair; a supporter is refused (403): they read only.
    REPAIR_PARTICIPANT = "repair_participant"
    # The owner of the webhook endpoint named in the path (``{endpoint_id}``).
    ENDPOINT_OWNER = "endpoint_owner"
    # The service's operators, who send the configured LEDGER_OPERATOR_TOKEN as
    # X-Operator-Token; nobody when none is configured. Accounts play no part in it.
    OPERATOR = "operator"


_DISCLOSURE = "/api/polycules/{polycule_id}/disclosures/{disclosure_id}"
_BREACH = "/api/polycules/{polycule_id}/breaches/{breach_id}"
_ENDPOINT = "/api/webhooks/endpoints/{endpoint_id}"

# (method, path template) → rule. HEAD is answered as GET.
ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule.PUBLIC,
    ("GET", "/readyz"): Rule.PUBLIC,
    ("GET", "/status"): Rule.OPERATOR,
    ("GET", "/api/openapi.json"): Rule.PUBLIC,
    ("POST", "/api/accounts"): Rule.PUBLIC,
    ("POST", "/api/session"): Rule.PUBLIC,
    ("GET", "/api/session"): Rule.SIGNED_IN,
    ("DELETE", "/api/session"): Rule.SIGNED_IN,
    ("DELETE", "/api/account"): Rule.SIGNED_IN,
    ("POST", "/api/account/password"): Rule.SIGNED_IN,
    ("POST", "/api/account/sign-out-everywhere"): Rule.SIGNED_IN,
    ("PUT", "/api/account/time-zone"): Rule.SIGNED_IN,
    ("GET", "/api/tokens"): Rule.SIGNED_IN,
    ("POST", "/api/tokens"): Rule.SIGNED_IN,
    ("DELETE", "/api/tokens/{token_id}"): Rule.SIGNED_IN,
    # Mail notices: one's own address and choices. Confirming takes the mailed token
    # alone (the mail may be read where nobody is signed in); the token is the authority.
    ("GET", "/api/account/email"): Rule.SIGNED_IN,
    ("PUT", "/api/account/email"): Rule.SIGNED_IN,
    ("DELETE", "/api/account/email"): Rule.SIGNED_IN,
    ("POST", "/api/account/email/confirm"): Rule.PUBLIC,
    ("GET", "/api/account/notifications"): Rule.SIGNED_IN,
    ("PUT", "/api/account/notifications"): Rule.SIGNED_IN,
    ("GET", "/api/polycules"): Rule.SIGNED_IN,
    ("POST", "/api/polycules"): Rule.SIGNED_IN,
    # Whoever holds an invitation's link, signed in: what it is (invitation_held), joining.
    ("GET", "/api/invitations/{token}"): Rule.SIGNED_IN,
    ("POST", "/api/invitations/{token}/accept"): Rule.SIGNED_IN,
    ("GET", "/api/polycules/{polycule_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/members"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/invitations"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/invitations"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/invitations/{invitation_id}/revoke"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/leave"): Rule.POLYCULE_MEMBER,
    # Agreements and proposals are the polycule's shared business: every member may read
    # them. Who may answer a proposal or act on an agreement (its parties, its proposer)
    # is a rule of the domain, checked by the decider: 403 with the rule's code.
    ("GET", "/api/polycules/{polycule_id}/agreements"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/agreements/{agreement_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/agreements/{agreement_id}/history"):
        Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/agreements/{agreement_id}/diff"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/agreements/{agreement_id}/revoke"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/agreements/{agreement_id}/reaffirm"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/agreements/{agreement_id}/request-review"):
        Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/proposals"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/proposals/{proposal_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/proposals/{proposal_id}/changes"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/draft-changes"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/consent"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/object"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/withdraw"):
        Rule.POLYCULE_MEMBER,
    # Questions and comments on a proposal: any member asks, every member reads them.
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/comments"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/revise"):
        Rule.POLYCULE_MEMBER,
    # What is past (ended agreements, closed proposals) is as shared as what is in force.
    ("GET", "/api/polycules/{polycule_id}/past"): Rule.POLYCULE_MEMBER,
    # The audit view: every member pages through the chain; each event is shown in full
    # or as an opaque entry, as may_read_event decides.
    ("GET", "/api/polycules/{polycule_id}/events"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/verify"): Rule.POLYCULE_MEMBER,
    # Disclosures: listing shows each member only what they made or were told.
    ("GET", "/api/polycules/{polycule_id}/disclosures"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/disclosures"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/disclosures/preview"): Rule.POLYCULE_MEMBER,
    ("GET", f"{_DISCLOSURE}"): Rule.DISCLOSURE_AUDIENCE,
    ("POST", f"{_DISCLOSURE}/acknowledge"): Rule.DISCLOSURE_AUDIENCE,
    # Breaches: listing shows each member only those they may see.
    ("GET", "/api/polycules/{polycule_id}/breaches"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/breaches"): Rule.POLYCULE_MEMBER,
    ("GET", f"{_BREACH}"): Rule.BREACH_AUDIENCE,
    ("POST", f"{_BREACH}/acknowledge"): Rule.BREACH_AUDIENCE,
    ("POST", f"{_BREACH}/dispute"): Rule.BREACH_AUDIENCE,
    ("POST", f"{_BREACH}/audience"): Rule.BREACH_AUDIENCE,
    ("GET", f"{_BREACH}/repair"): Rule.REPAIR_READER,
    **{
        ("POST", f"{_BREACH}/repair/{step}"): Rule.REPAIR_PARTICIPANT
        for step in (
            "responsibility", "impact", "apology", "decisions", "factors",
            "factors/{factor_id}/addressed", "boundaries", "commitments",
            "commitments/{commitment_id}/occurrences/{occurrence}", "check-ins",
            "supporters", "restore", "end",
        )
    },
    # A supporter's own list of the repairs they support (each as readable_by allows).
    ("GET", "/api/me/supporting"): Rule.SIGNED_IN,
    # Whoever holds a supporter's invitation, signed in with their own account.
    ("POST", "/api/supporter-invitations/{token}/accept"): Rule.SIGNED_IN,
    # Webhooks: each member's own endpoints, and the catalogue of what can be sent.
    ("GET", "/api/webhooks/types"): Rule.SIGNED_IN,
    ("GET", "/api/webhooks/endpoints"): Rule.SIGNED_IN,
    ("POST", "/api/webhooks/endpoints"): Rule.SIGNED_IN,
    ("GET", f"{_ENDPOINT}"): Rule.ENDPOINT_OWNER,
    ("PATCH", f"{_ENDPOINT}"): Rule.ENDPOINT_OWNER,
    ("DELETE", f"{_ENDPOINT}"): Rule.ENDPOINT_OWNER,
    ("POST", f"{_ENDPOINT}/rotate-secret"): Rule.ENDPOINT_OWNER,
    ("GET", f"{_ENDPOINT}/messages"): Rule.ENDPOINT_OWNER,
    ("POST", f"{_ENDPOINT}/messages/{{message_id}}/send-again"): Rule.ENDPOINT_OWNER,
    ("POST", f"{_ENDPOINT}/replay"): Rule.ENDPOINT_OWNER,
    # The caller's own inbox, across their polycules; a draft's clarity check.
    ("GET", "/api/me/inbox"): Rule.SIGNED_IN,
    ("GET", "/api/me/inbox/unread"): Rule.SIGNED_IN,
    ("POST", "/api/me/inbox/read"): Rule.SIGNED_IN,
    ("POST", "/api/clarity-check"): Rule.SIGNED_IN,
    # Live updates (Server-Sent Events): only that something the caller may read changed.
    ("GET", "/api/me/live"): Rule.SIGNED_IN,
    ("GET", "/api/polycules/{polycule_id}/live"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/audit-export"): Rule.POLYCULE_MEMBER,
    # Signed checkpoints and proofs of a polycule's history: its members'. The keys they
    # are signed with are public, so that anyone can check a checkpoint shown to them.
    ("GET", "/api/polycules/{polycule_id}/checkpoint"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/proofs/consistency"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/proofs/inclusion"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/checkpoint/cosignatures"): Rule.POLYCULE_MEMBER,
    ("GET", "/.well-known/ledger-checkpoint-keys"): Rule.PUBLIC,
    # Each member's own device keys (another's is "no such device key").
    ("GET", "/api/account/device-keys"): Rule.SIGNED_IN,
    ("POST", "/api/account/device-keys"): Rule.SIGNED_IN,
    ("DELETE", "/api/account/device-keys/{device_key_id}"): Rule.SIGNED_IN,
    # The web client's pages (ledger/web/): the same rules as the API they show. A page
    # answers a caller who is not signed in with the sign-in page, not a 401.
    ("GET", "/"): Rule.PUBLIC,
    ("GET", "/static"): Rule.PUBLIC,
    ("GET", "/sign-in"): Rule.PUBLIC,
    ("GET", "/sign-up"): Rule.PUBLIC,
    ("POST", "/sign-out"): Rule.SIGNED_IN,
    ("GET", "/inbox"): Rule.SIGNED_IN,
    ("GET", "/account"): Rule.SIGNED_IN,
    ("POST", "/account/tokens/{token_id}/revoke"): Rule.SIGNED_IN,
    ("POST", "/account/time-zone"): Rule.SIGNED_IN,
    ("GET", "/account/erase"): Rule.SIGNED_IN,
    ("POST", "/account/erase"): Rule.SIGNED_IN,
    ("GET", "/account/webhooks"): Rule.SIGNED_IN,
    ("GET", "/account/webhooks/{endpoint_id}"): Rule.ENDPOINT_OWNER,
    ("POST", "/account/webhooks/{endpoint_id}/delete"): Rule.ENDPOINT_OWNER,
    ("POST", "/account/webhooks/{endpoint_id}/change"): Rule.ENDPOINT_OWNER,
    ("GET", "/account/email"): Rule.SIGNED_IN,
    ("POST", "/account/email"): Rule.SIGNED_IN,
    ("POST", "/account/email/forget"): Rule.SIGNED_IN,
    ("POST", "/account/notifications"): Rule.SIGNED_IN,
    # The links in mail: their token is the authority, whoever follows them.
    ("GET", "/email/confirm/{token}"): Rule.PUBLIC,
    ("POST", "/email/confirm/{token}"): Rule.PUBLIC,
    ("GET", "/unsubscribe/{token}"): Rule.PUBLIC,
    ("POST", "/unsubscribe/{token}"): Rule.PUBLIC,
    ("GET", "/polycules"): Rule.SIGNED_IN,
    # A secret a form just made, shown once to the account that made it (to anyone else,
    # there is nothing there).
    ("GET", "/shown/{shown_id}"): Rule.SIGNED_IN,
    ("GET", "/invitations/{token}"): Rule.SIGNED_IN,
    ("GET", "/supporter-invitations/{token}"): Rule.SIGNED_IN,
    ("GET", "/supporting"): Rule.SIGNED_IN,
    ("GET", "/polycules/{polycule_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/propose"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/invitations"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/proposals/{proposal_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/agreements/{agreement_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/disclosures"): Rule.POLYCULE_MEMBER,
    ("POST", "/polycules/{polycule_id}/disclosures"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/disclosures/{disclosure_id}"):
        Rule.DISCLOSURE_AUDIENCE,
    ("GET", "/polycules/{polycule_id}/breaches"): Rule.POLYCULE_MEMBER,
    ("GET", "/polycules/{polycule_id}/breaches/{breach_id}"): Rule.BREACH_AUDIENCE,
    ("GET", "/polycules/{polycule_id}/audit"): Rule.POLYCULE_MEMBER,
    # The single-file offline verifier: the same for everyone, and nothing of anyone's.
    ("GET", "/verify_export.py"): Rule.PUBLIC,
}

# Event types any current member of the polycule may read in full in its audit view. Any
# other type (a disclosure to chosen members, say) is shown to a member only as an opaque
# entry — position, time and hashes, enough to verify the chain — until a rule for it is
# written here. Deny by default, like the routes.
READABLE_BY_EVERY_MEMBER: frozenset[str] = frozenset({
    "PolyculeFounded", "MemberJoined", "MemberInvited", "InvitationRevoked", "MemberLeft",
    "AgreementProposed", "ProposalRevised", "ConsentGiven", "ObjectionRaised", "CommentMade",
    "ProposalRejected", "ProposalWithdrawn", "ProposalExpired", "ProposalLapsed",
    "AgreementRatified", "AgreementEnded", "ReviewBecameDue", "ReviewRequested",
    "AgreementReaffirmed", "ReviewCompleted",
})


# Seen by the discloser and the members told, by nobody else.
DISCLOSURE_EVENTS: frozenset[str] = frozenset({"DisclosureMade", "DisclosureAcknowledged"})
# Seen by the breach's audience.
BREACH_EVENTS: frozenset[str] = frozenset({
    "BreachReported", "BreachAcknowledged", "BreachDisputed", "BreachAudienceWidened",
})
# Seen by the repair's participants (in the audit view; supporters have none).
REPAIR_EVENTS: frozenset[str] = frozenset({
    "ResponsibilityTaken", "ImpactShared", "ApologyMade", "RepairDecisionMade", "FactorNamed",
    "FactorAddressed", "BoundaryLinked", "CommitmentMade", "CommitmentFellDue",
    "CommitmentMarked", "CheckInRecorded", "SupporterInvited", "SupporterJoined",
    "RestorationChosen", "RepairClosed",
})


class NoRuleForRoute(Exception):
    """A route nobody decided about: refused, and a bug to fix in ROUTE_RULES."""


def rule_for(method: str, path_template: str) -> Rule:
    method = "GET" if method == "HEAD" else method
    rule = ROUTE_RULES.get((method, path_template))
    if rule is None:
        raise NoRuleForRoute(f"{method} {path_template} has no authorization rule")
    return rule


def require_signed_in(account_id: UUID | None) -> UUID:
    if account_id is None:
        raise Unauthenticated("sign in first")
    return account_id


def is_operator(offered: str | None, configured: str | None) -> bool:
    """Whether a request's X-Operator-Token is the configured one (compared in constant
    time); never when no token is configured."""
    if not configured or offered is None:
        return False
    return hmac.compare_digest(offered.encode(), configured.encode())


def require_operator(offered: str | None, configured: str | None) -> None:
    if not is_operator(offered, configured):
        raise Forbidden("only the service's operators may see this (X-Operator-Token)")


def require_member(account_id: UUID | None, polycule: Polycule) -> UUID:
    """The caller, if they are a current member; otherwise the polycule does not exist."""
    caller = require_signed_in(account_id)
    if not polycule.founded or not polycule.is_member(caller):
        raise NotFound("no such polycule")
    return caller


def authorize(
    rule: Rule, method: str, account_id: UUID | None, polycule: Polycule, path: Mapping[str, str]
) -> UUID:
    """The caller, if ``rule`` lets them at this polycule's resource named in ``path``.

    Whoever may not see a resource is answered 404, exactly as if it did not exist: a
    member outside a disclosure's audience cannot even learn that it exists. A supporter is
    not a member: they reach their repair's breach and history for reading, and nothing else.
    """
    caller = require_signed_in(account_id)
    if rule is Rule.POLYCULE_MEMBER:
        return require_member(caller, polycule)
    if rule is Rule.DISCLOSURE_AUDIENCE:
        require_member(caller, polycule)
        disclosure_id = _id_in(path, "disclosure_id")
        disclosure = polycule.disclosures.items.get(disclosure_id) if disclosure_id else None
        if disclosure is None or not may_read_disclosure(caller, polycule, disclosure):
            raise NotFound("no such disclosure")
        return caller
    if rule not in _BREACH_RULES:
        raise NotFound("no such polycule")
    breach_id = _id_in(path, "breach_id")
    breach = polycule.breaches.items.get(breach_id) if breach_id else None
    member = polycule.founded and polycule.is_member(caller)
    if breach is None or not may_read_breach(caller, polycule, breach):
        raise NotFound("no such breach" if member else "no such polycule")
    if rule is not Rule.BREACH_AUDIENCE and not may_read_repair(caller, polycule, breach):
        raise NotFound("no such repair")
    if not member and (rule is Rule.REPAIR_PARTICIPANT or method not in {"GET", "HEAD"}):
        raise Forbidden("a supporter can read this repair and do nothing else")
    return caller


_BREACH_RULES = frozenset({Rule.BREACH_AUDIENCE, Rule.REPAIR_READER, Rule.REPAIR_PARTICIPANT})


# --- Who may read which breach, repair and disclosure: the one definition ------------------


def may_read_breach(reader: UUID, polycule: Polycule, breach: Breach) -> bool:
    """A current member in the breach's audience (its agreement's parties when it happened,
    and whoever its reporter added), or a supporter of its repair. Nobody else learns that
    it exists: a member who became a party to the agreement later is not in its audience."""
    if polycule.is_member(reader):
        return breach.visible_to(reader)
    return reader in breach.supporters


def may_read_repair(reader: UUID, polycule: Polycule, breach: Breach) -> bool:
    """A current member taking part in it (the member who breached, the harmed parties), or
    a supporter the participants invited; seeing the breach is not taking part."""
    if polycule.is_member(reader):
        return breach.visible_to(reader) and reader in breach.participants
    return reader in breach.supporters


def may_read_check_in(
    reader: UUID, polycule: Polycule, breach: Breach, author: UUID, private: bool
) -> bool:
    """Whoever may read the repair reads its check-ins, except one its author kept private:
    that one only its author reads (not the others in the repair, nor its supporters)."""
    if private:
        return reader == author and may_read_repair(reader, polycule, breach)
    return may_read_repair(reader, polycule, breach)


def private_check_ins_readable(reader: UUID, polycule: Polycule, breach: Breach) -> frozenset[UUID]:
    """Whose private check-ins in this repair ``reader`` may read (their own, if they may
    read the repair): the repair's queries take this answer and show no other private one."""
    return frozenset(
        {reader} if may_read_check_in(reader, polycule, breach, reader, True) else ()
    )


def invitation_held(polycule: Polycule, secret_hash: str) -> Invitation:
    """The invitation whose secret the caller holds: its token is the authority to read, before
    joining, whose polycule it is and who sent it (an invitation that can no longer be used
    shows only why not). Without a matching secret, nothing exists."""
    invitation = polycule.invitations.get(secret_hash) if polycule.founded else None
    if invitation is None:
        raise NotFound("no such invitation")
    return invitation


def may_read_disclosure(reader: UUID, polycule: Polycule, disclosure: Disclosure) -> bool:
    """A current member who made it or was told it; nobody else learns that it exists."""
    return polycule.is_member(reader) and disclosure.visible_to(reader)


@dataclass(frozen=True)
class Readable:
    """The ids of the breaches, repairs (by their breach) and disclosures one reader may
    read, in the polycules asked about. Every query that lists them takes these ids
    (projections/repair_queries.py, projections/disclosures.py), so that what a list shows
    is decided by the rules above and nowhere else."""

    breaches: frozenset[UUID] = frozenset()
    repairs: frozenset[UUID] = frozenset()
    disclosures: frozenset[UUID] = frozenset()


def readable_by(reader: UUID, *polycules: Polycule) -> Readable:
    """What ``reader`` may read of these polycules (each as loaded from its stream)."""
    breaches: set[UUID] = set()
    repairs: set[UUID] = set()
    disclosures: set[UUID] = set()
    for state in polycules:
        for breach in state.breaches.items.values():
            if may_read_breach(reader, state, breach):
                breaches.add(breach.breach_id)
            if may_read_repair(reader, state, breach):
                repairs.add(breach.breach_id)
        disclosures.update(
            disclosure.disclosure_id for disclosure in state.disclosures.items.values()
            if may_read_disclosure(reader, state, disclosure)
        )
    return Readable(frozenset(breaches), frozenset(repairs), frozenset(disclosures))


def may(
    rule: Rule, method: str, account_id: UUID | None, polycule: Polycule, path: Mapping[str, str]
) -> bool:
    """Whether ``authorize`` would let the caller in (a page asks before showing a part
    that another rule guards, such as a breach's repair on the breach's page)."""
    try:
        authorize(rule, method, account_id, polycule, path)
    except (Unauthenticated, NotFound, Forbidden):
        return False
    return True


def require_endpoint_owner(account_id: UUID | None, owner_id: UUID | None) -> UUID:
    """The caller, if the endpoint is theirs; for anyone else it does not exist."""
    caller = require_signed_in(account_id)
    if owner_id != caller:
        raise NotFound("no such webhook endpoint")
    return caller


def may_read_event(
    member_id: UUID, polycule: Polycule, event_type: str, data: Mapping[str, Any]
) -> bool:
    """Whether a member may read this event of their polycule in full (its stored data is
    only looked at for the ids it names)."""
    if not polycule.is_member(member_id):
        return False
    if event_type in READABLE_BY_EVERY_MEMBER:
        return True
    if event_type in DISCLOSURE_EVENTS:
        disclosure = polycule.disclosures.items.get(UUID(data["disclosure_id"]))
        return disclosure is not None and may_read_disclosure(member_id, polycule, disclosure)
    breach = _breach_named(polycule, data)
    if event_type in BREACH_EVENTS:
        return breach is not None and may_read_breach(member_id, polycule, breach)
    if event_type == "CheckInRecorded":
        return breach is not None and may_read_check_in(
            member_id, polycule, breach, UUID(str(data["member_id"])), bool(data.get("private"))
        )
    if event_type in REPAIR_EVENTS:
        return breach is not None and may_read_repair(member_id, polycule, breach)
    return False


def _breach_named(polycule: Polycule, data: Mapping[str, Any]) -> Breach | None:
    raw = data.get("breach_id")
    return polycule.breaches.items.get(UUID(raw)) if isinstance(raw, str) else None


def _id_in(path: Mapping[str, str], name: str) -> UUID | None:
    try:
        return UUID(path[name])
    except (KeyError, ValueError):
        return None


def polycule_id_from_path(raw: str) -> UUID:
    """A malformed id names no polycule: 404, like any polycule one may not see."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("no such polycule") from None
