"""Who may read or do what: the one authorization module, deny by default.

Every route of the API is listed in ``ROUTE_RULES`` with the rule that guards it, and the
authorization middleware asks this module before any view runs. A route missing from the
table is refused for everyone (and the route-matrix test fails), so a route added without
a decision can never be open by accident.

For a polycule's resources the answers are: nobody signed in → 401; signed in but not a
current member → 404, exactly as if the polycule did not exist (its existence is not
revealed); a member → allowed. Which events of the chain a member may read in full is
decided here too (``may_read_event``); finer rules (the audience of a disclosure) join
this module as the features that need them arrive.
"""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from ledger.domain.polycules import Polycule
from ledger.errors import NotFound, Unauthenticated


class Rule(Enum):
    # Anyone, signed in or not: probes, signing up, signing in, the API description.
    PUBLIC = "public"
    # Any signed-in account: their own session, tokens, polycules; accepting an invitation.
    SIGNED_IN = "signed_in"
    # A current member of the polycule named in the path (``{polycule_id}``).
    POLYCULE_MEMBER = "polycule_member"


# (method, path template) → rule. HEAD is answered as GET.
ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule.PUBLIC,
    ("GET", "/readyz"): Rule.PUBLIC,
    ("GET", "/status"): Rule.PUBLIC,
    ("GET", "/api/openapi.json"): Rule.PUBLIC,
    ("POST", "/api/accounts"): Rule.PUBLIC,
    ("POST", "/api/session"): Rule.PUBLIC,
    ("GET", "/api/session"): Rule.SIGNED_IN,
    ("DELETE", "/api/session"): Rule.SIGNED_IN,
    ("DELETE", "/api/account"): Rule.SIGNED_IN,
    ("GET", "/api/tokens"): Rule.SIGNED_IN,
    ("POST", "/api/tokens"): Rule.SIGNED_IN,
    ("DELETE", "/api/tokens/{token_id}"): Rule.SIGNED_IN,
    ("GET", "/api/polycules"): Rule.SIGNED_IN,
    ("POST", "/api/polycules"): Rule.SIGNED_IN,
    ("POST", "/api/invitations/{token}/accept"): Rule.SIGNED_IN,
    ("GET", "/api/polycules/{polycule_id}"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/members"): Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/invitations"): Rule.POLYCULE_MEMBER,
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
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/consent"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/object"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/withdraw"):
        Rule.POLYCULE_MEMBER,
    ("POST", "/api/polycules/{polycule_id}/proposals/{proposal_id}/revise"):
        Rule.POLYCULE_MEMBER,
    # The audit view: every member pages through the chain; each event is shown in full
    # or as an opaque entry, as may_read_event decides.
    ("GET", "/api/polycules/{polycule_id}/events"): Rule.POLYCULE_MEMBER,
    ("GET", "/api/polycules/{polycule_id}/verify"): Rule.POLYCULE_MEMBER,
    # The caller's own inbox, across their polycules; a draft's clarity check.
    ("GET", "/api/me/inbox"): Rule.SIGNED_IN,
    ("POST", "/api/clarity-check"): Rule.SIGNED_IN,
}

# Event types any current member of the polycule may read in full in its audit view. Any
# other type (a disclosure to chosen members, say) is shown to a member only as an opaque
# entry — position, time and hashes, enough to verify the chain — until a rule for it is
# written here. Deny by default, like the routes.
READABLE_BY_EVERY_MEMBER: frozenset[str] = frozenset({
    "PolyculeFounded", "MemberJoined", "MemberInvited", "MemberLeft",
    "AgreementProposed", "ProposalRevised", "ConsentGiven", "ObjectionRaised",
    "ProposalRejected", "ProposalWithdrawn", "ProposalExpired", "ProposalLapsed",
    "AgreementRatified", "AgreementEnded", "ReviewBecameDue", "ReviewRequested",
    "AgreementReaffirmed", "ReviewCompleted",
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


def require_member(account_id: UUID | None, polycule: Polycule) -> UUID:
    """The caller, if they are a current member; otherwise the polycule does not exist."""
    caller = require_signed_in(account_id)
    if not polycule.founded or not polycule.is_member(caller):
        raise NotFound("no such polycule")
    return caller


def may_read_event(member_id: UUID, polycule: Polycule, event_type: str) -> bool:
    """Whether a member may read this event of their polycule in full."""
    return polycule.is_member(member_id) and event_type in READABLE_BY_EVERY_MEMBER


def polycule_id_from_path(raw: str) -> UUID:
    """A malformed id names no polycule: 404, like any polycule one may not see."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("no such polycule") from None
