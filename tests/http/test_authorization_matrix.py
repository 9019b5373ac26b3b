"""Every route of the API, walked as nobody, as an outsider and as a member.

The routes come from the running app itself, so a route added later without a rule in
ledger/auth/policy.py — or with a rule the middleware does not enforce — fails here.
"""

from __future__ import annotations

import uuid

import aiohttp

from ledger.auth.policy import ROUTE_RULES, Rule, rule_for
from tests.http.people import Person, person
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


def concrete(path: str, polycule_id: str) -> str:
    return (path.replace("{polycule_id}", polycule_id)
                .replace("{token_id}", str(uuid.uuid4()))
                .replace("{token}", f"{uuid.uuid4().hex}.not-a-secret"))


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
    async with person(client) as member, person(client) as outsider:
        for method, template in app_routes(client):
            rule = rule_for(method, template)
            # A fresh polycule for each route, since some routes (leave) change it.
            polycule_id = (await member.json("POST", "/api/polycules", 201,
                                             json={"name": "Matrix"}))["id"]
            path = concrete(template, polycule_id)
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
