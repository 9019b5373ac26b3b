"""Every route of the API and every page of the web client, walked as nobody, as an
outsider and as a member.

The routes come from the running app itself, so a route added later without a rule in
ledger/auth/policy.py — or with a rule the middleware does not enforce — fails here. A page
answers nobody with the way to sign in (303 to /sign-in) where the API answers 401.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiohttp

from ledger.auth.policy import ROUTE_RULES, Rule, rule_for
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


def app_routes(client: Client) -> list[tuple[str, str]]:
    found = []
    for route in client.app.router.routes():
        if route.method in {"HEAD", "OPTIONS", "*"} or route.resource is None:
            continue
        path = route.resource.canonical
        if path.startswith("/test/"):
            continue  # added by other tests' fixtures, never by the app
        found.append((route.method, path))
    return sorted(found)


def concrete(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace(f"{{{name}}}", value)
    return (path.replace("{token_id}", str(uuid.uuid4()))
                .replace("{device_key_id}", str(uuid.uuid4()))
                .replace("{shown_id}", str(uuid.uuid4()))
                .replace("{token}", f"{uuid.uuid4().hex}.not-a-secret"))


async def scene(member: Person, partner: Person) -> dict[str, str]:
    """A polycule of two with one of everything the routes name: an agreement in force
    between them, an open proposal, a disclosure by the member, and a breach of the
    agreement by the partner (the member is its harmed party) with a factor named and a
    commitment made in its repair, and an invitation not yet used."""
    endpoint = await member.json("POST", "/api/webhooks/endpoints", 201, json={
        "url": "https://hooks.invalid/hook", "event_types": ["agreement.ratified"],
    })
    polycule_id = await polycule_of(member, partner, name="Matrix")
    base = f"/api/polycules/{polycule_id}"
    parties = [str(member.account_id), str(partner.account_id)]
    in_force = await member.json("POST", f"{base}/proposals", 201, json={
        "kind": "create", "title": "Ours", "terms": "Tea on Sundays.", "parties": parties,
    })
    await partner.json("POST", f"{base}/proposals/{in_force['proposal_id']}/consent",
                       json={"revision": 1})
    pending = await member.json("POST", f"{base}/proposals", 201, json={
        "kind": "create", "title": "Also ours", "terms": "Walks on Mondays.",
        "parties": parties,
    })
    disclosure = await member.json("POST", f"{base}/disclosures", 201, json={
        "kind": "feelings", "text": "I am nervous about Sunday.", "recipients": parties[1:],
    })
    breach = await member.json("POST", f"{base}/breaches", 201, json={
        "agreement_id": in_force["agreement_id"], "breached_by": parties[1],
        "happened_at": datetime.now(UTC).isoformat(), "what_happened": "No tea.",
    })
    repair = f"{base}/breaches/{breach['breach_id']}/repair"
    factor = await member.json("POST", f"{repair}/factors", 201, json={"factor": "other"})
    commitment = await partner.json("POST", f"{repair}/commitments", 201, json={
        "what": "Tea.", "first_due_at": datetime.now(UTC).isoformat(),
    })
    invitation = await member.json("POST", f"{base}/invitations", 201, json={})
    return {
        "invitation_id": invitation["invitation_id"],
        "endpoint_id": endpoint["endpoint_id"],
        "message_id": await first_message(member, endpoint["endpoint_id"]),
        "polycule_id": polycule_id,
        "agreement_id": in_force["agreement_id"],
        "proposal_id": pending["proposal_id"],
        "disclosure_id": disclosure["disclosure_id"],
        "breach_id": breach["breach_id"],
        "factor_id": factor["factors"][0]["factor_id"],
        "commitment_id": commitment["commitments"][0]["commitment_id"],
        "occurrence": "1",
    }


async def first_message(member: Person, endpoint_id: str) -> str:
    """The id of the first webhook message for the endpoint (the partner's consent made the
    agreement, which the member hears of), once the fan-out has enqueued it."""
    for _ in range(200):
        log = await member.json("GET", f"/api/webhooks/endpoints/{endpoint_id}/messages")
        if log:
            return str(log[0]["message_id"])
        await asyncio.sleep(0.025)
    raise AssertionError("no webhook message was enqueued")


async def call(someone: Person | None, client: Client, method: str, path: str) -> Answer:
    if someone is None:
        async with aiohttp.ClientSession() as anonymous:
            response = await anonymous.request(
                method, client.make_url(path), json={}, allow_redirects=False
            )
            return await _answer(response)
    return await _answer(await someone.request(method, path, json={}, allow_redirects=False))


async def _answer(response: aiohttp.ClientResponse) -> Answer:
    if response.content_type == "text/event-stream":
        response.close()  # a live stream never ends by itself
        return Answer(response.status, None, None)
    body = await response.json() if response.content_type == "application/json" else None
    return Answer(response.status, body, response.headers.get("Location"))


class Answer(NamedTuple):
    status: int
    body: Any
    location: str | None

    @property
    def asked_to_sign_in(self) -> bool:
        """401 from the API; from a page, the way to the sign-in page."""
        if self.status == 303:
            return (self.location or "").startswith("/sign-in?next=")
        return self.status == 401

    @property
    def refused_by_policy(self) -> bool:
        """401, 404, or the policy's own 403 — not a rule of the domain answered 403 with
        its code (the member may reach the route, but is not, say, the one who breached)."""
        if self.status == 403:
            return bool(self.body["error"]["code"] == "forbidden")
        return self.status in {401, 404}


async def test_every_route_has_a_rule(client: Client) -> None:
    routes = app_routes(client)

    assert routes, "the app has routes"
    assert {route for route in routes} <= set(ROUTE_RULES), (
        set(routes) - set(ROUTE_RULES)
    )


async def test_every_route_answers_nobody_outsiders_and_members_as_its_rule_says(
    client: Client,
) -> None:
    async with person(client) as member, person(client) as outsider, \
            person(client) as partner:
        for method, template in app_routes(client):
            rule = rule_for(method, template)
            # A fresh polycule for each route, since some routes (leave) change it.
            path = concrete(template, await scene(member, partner))
            case = f"{method} {template}"

            as_nobody = await call(None, client, method, path)
            as_outsider = await call(outsider, client, method, path)
            as_member = await call(member, client, method, path)
            # Signing out (or a refused erasure) must not spoil the next route's calls.
            await member.sign_in()
            await outsider.sign_in()

            if rule is Rule.OPERATOR:
                # Operators send their token, whoever is signed in; nobody else gets in.
                assert {as_nobody.status, as_outsider.status, as_member.status} == {403}, case
                continue
            if rule is Rule.PUBLIC:
                assert not as_nobody.asked_to_sign_in, case
            else:
                assert as_nobody.asked_to_sign_in, (case, as_nobody)
            if rule is Rule.SIGNED_IN:
                assert as_outsider.status not in {401, 403}, (case, as_outsider)
                assert as_member.status not in {401, 403}, (case, as_member)
            elif rule is not Rule.PUBLIC:
                # Every rule about a polycule's resources: outsiders learn nothing.
                assert as_outsider.status == 404, case
                assert not as_member.refused_by_policy, (case, as_member)
