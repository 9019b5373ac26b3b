"""Every route of the API, walked as nobody, as an outsider and as a member.

The routes come from the running app itself, so a route added later without a rule in
ledger/auth/policy.py — or with a rule the middleware does not enforce — fails here.
"""

from __future__ import annotations

import uuid

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


def concrete(path: str, polycule_id: str, agreement_id: str, proposal_id: str) -> str:
    return (path.replace("{polycule_id}", polycule_id)
                .replace("{agreement_id}", agreement_id)
                .replace("{proposal_id}", proposal_id)
                .replace("{token_id}", str(uuid.uuid4()))
                .replace("{token}", f"{uuid.uuid4().hex}.not-a-secret"))


async def polycule_with_an_agreement_and_a_proposal(
    member: Person, partner: Person
) -> tuple[str, str, str]:
    """A polycule of two, an agreement binding the member alone (so already in force) and
    an open proposal between the two of them."""
    polycule_id = await polycule_of(member, partner, name="Matrix")
    proposals = f"/api/polycules/{polycule_id}/proposals"
    in_force = await member.json("POST", proposals, 201, json={
        "kind": "create", "title": "Mine", "terms": "I journal.",
        "parties": [str(member.account_id)],
    })
    pending = await member.json("POST", proposals, 201, json={
        "kind": "create", "title": "Ours", "terms": "Tea on Sundays.",
        "parties": [str(member.account_id), str(partner.account_id)],
    })
    return polycule_id, in_force["agreement_id"], pending["proposal_id"]


async def call(someone: Person | None, client: Client, method: str, path: str) -> int:
    if someone is None:
        async with aiohttp.ClientSession() as anonymous:
            response = await anonymous.request(method, client.make_url(path), json={})
            return response.status
    return (await someone.request(method, path, json={})).status


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
            path = concrete(template, *await polycule_with_an_agreement_and_a_proposal(
                member, partner
            ))
            case = f"{method} {template}"

            as_nobody = await call(None, client, method, path)
            as_outsider = await call(outsider, client, method, path)
            as_member = await call(member, client, method, path)
            # Signing out (or a refused erasure) must not spoil the next route's calls.
            await member.sign_in()
            await outsider.sign_in()

            if rule is Rule.PUBLIC:
                assert as_nobody != 401, case
            else:
                assert as_nobody == 401, case
            if rule is Rule.POLYCULE_MEMBER:
                assert as_outsider == 404, case
                assert as_member not in {401, 403, 404}, (case, as_member)
            elif rule is Rule.SIGNED_IN:
                assert as_outsider not in {401, 403}, (case, as_outsider)
                assert as_member not in {401, 403}, (case, as_member)
