"""The middleware that asks the authorization policy before any view runs.

It finds the route's rule in ledger/auth/policy.py and enforces it. For a polycule's
routes it loads the polycule (consistently, from its stream) and hands the view what it
loaded, so the view does not load it again just to know who belongs. The polycule's stream
version was read with the caller's credential (ledger/http/identity.py): when this
instance's kept state of the polycule is that version already, nothing more is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from ledger.auth import policy
from ledger.domain.polycules import Polycule, polycule_decider
from ledger.errors import Forbidden
from ledger.http.identity import identity_of, polycule_version_seen
from ledger.http.keys import POOL, SERVICE, SETTINGS
from ledger.http.middleware import route_template
from ledger.webhooks import endpoints

log = structlog.get_logger(__name__)

# Where operators send the configured LEDGER_OPERATOR_TOKEN (Rule.OPERATOR).
OPERATOR_HEADER = "X-Operator-Token"

@dataclass(frozen=True)
class PolyculeInView:
    """The polycule named in the path, as the policy found it, and who is asking."""

    polycule_id: UUID
    state: Polycule
    # The caller: a current member, or for a repair's routes possibly its supporter.
    member_id: UUID
    # The stream's version the state was folded up to.
    version: int = 0


_POLYCULE = web.RequestKey("polycule", PolyculeInView)

# The rules about a polycule's resources, decided with the polycule's state in hand.
POLYCULE_RULES = frozenset({
    policy.Rule.POLYCULE_MEMBER, policy.Rule.DISCLOSURE_AUDIENCE, policy.Rule.BREACH_AUDIENCE,
    policy.Rule.REPAIR_READER, policy.Rule.REPAIR_PARTICIPANT,
})


_ENDPOINT = web.RequestKey("webhook_endpoint", endpoints.Endpoint)


def endpoint_of(request: web.Request) -> endpoints.Endpoint:
    """The webhook endpoint named in the path, as the policy found it (its owner's)."""
    return request[_ENDPOINT]


def polycule_of(request: web.Request) -> PolyculeInView:
    return request[_POLYCULE]


def caller_of(request: web.Request) -> UUID:
    """The signed-in caller (the policy has already refused anyone else)."""
    identity = identity_of(request)
    return policy.require_signed_in(identity.account_id if identity else None)


@web.middleware
async def authorization_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: aiohttp's own 404/405
    template = route_template(request)
    try:
        rule = policy.rule_for(request.method, template)
    except policy.NoRuleForRoute:
        log.error("route_without_authorization_rule", method=request.method, path=template)
        raise Forbidden("this address is not open to anyone") from None
    identity = identity_of(request)
    account_id = identity.account_id if identity else None
    if rule is policy.Rule.SIGNED_IN:
        policy.require_signed_in(account_id)
    elif rule in POLYCULE_RULES:
        policy.require_signed_in(account_id)
        polycule_id = policy.polycule_id_from_path(request.match_info["polycule_id"])
        state, version = await request.app[SERVICE].load(
            polycule_id, polycule_decider, known_version=polycule_version_seen(request)
        )
        caller = policy.authorize(rule, request.method, account_id, state, request.match_info)
        request[_POLYCULE] = PolyculeInView(polycule_id, state, caller, version)
        structlog.contextvars.bind_contextvars(polycule_id=str(polycule_id))
    elif rule is policy.Rule.ENDPOINT_OWNER:
        try:
            endpoint_id = UUID(request.match_info["endpoint_id"])
        except ValueError:
            endpoint_id = None
        endpoint = None if endpoint_id is None else await endpoints.one(
            request.app[POOL], endpoint_id
        )
        policy.require_endpoint_owner(account_id, endpoint.account_id if endpoint else None)
        assert endpoint is not None  # the policy refused anyone but its owner
        request[_ENDPOINT] = endpoint
    elif rule is policy.Rule.OPERATOR:
        configured = request.app[SETTINGS].operator_token
        policy.require_operator(
            request.headers.get(OPERATOR_HEADER),
            configured.get_secret_value() if configured else None,
        )
    if account_id is not None:
        structlog.contextvars.bind_contextvars(actor=str(account_id))
    return await handler(request)
