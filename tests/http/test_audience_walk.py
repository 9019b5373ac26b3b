"""Nobody learns that a breach or a disclosure exists unless they may read it.

A polycule lives through a few months of agreements, disclosures, breaches and repairs with
different audiences: one agreement's parties change (a member joins it later), a breach's
audience is widened, a supporter reads one repair, a disclosure is corrected. Then every
page of the web client and every answer of the API that can be read (every GET route the
app has, found in its router, so a route added later is walked too) is fetched by each of
them — a party, a member outside the audiences, the member who joined the agreement later,
the supporter and an outsider — with every id of the polycule in its path. No answer may
hold the id of a breach or a disclosure that this person may not read.

Who may read what is written here from the domain's rules, not asked of the policy: the
breach's audience is its agreement's parties when it happened and whoever its reporter
added; a repair's supporter reads that breach; a disclosure is read by whoever made it and
the members it was told to.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import product
from typing import Any

from ledger.http.keys import WEBHOOK_FANOUT
from ledger.web.audit_pages import PAGE_SIZE
from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of
from tests.http.test_authorization_matrix import app_routes

# Query strings each page or answer is also asked with, beyond none: the whole audit
# chain, members who left, the agreements at a moment, the difference between versions.
ALSO_ASKED = {
    "/api/polycules/{polycule_id}/events": ["after=0&limit=1000"],
    "/api/polycules/{polycule_id}/members": ["former=true"],
    "/api/polycules/{polycule_id}/agreements/{agreement_id}/diff": ["from=1&to=2"],
}
# Placeholders only POST routes name: nothing to read there.
NEVER_READ = {"factor_id", "commitment_id", "occurrence", "message_id"}


@dataclass
class Polycule:
    """The scene: the polycule's ids, what each person may read, and the people."""

    id: str = ""
    agreements: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    breaches: dict[str, str] = field(default_factory=dict)  # name → id
    disclosures: dict[str, str] = field(default_factory=dict)  # name → id
    endpoints: list[str] = field(default_factory=list)
    # Who may read which breaches and disclosures (by name), from the domain's rules.
    may_read: dict[str, set[str]] = field(default_factory=dict)

    def hidden_from(self, role: str) -> dict[str, str]:
        """Every breach and disclosure id this person may not read, by name."""
        everything = {**self.breaches, **self.disclosures}
        return {name: id for name, id in everything.items() if name not in self.may_read[role]}

    def readable_by(self, role: str) -> dict[str, str]:
        everything = {**self.breaches, **self.disclosures}
        return {name: id for name, id in everything.items() if name in self.may_read[role]}


async def consented(polycule: str, proposer: Person, body: dict[str, Any],
                    *others: Person) -> dict[str, Any]:
    proposals = f"/api/polycules/{polycule}/proposals"
    proposal: dict[str, Any] = await proposer.json("POST", proposals, 201, json=body)
    for other in others:
        proposal = await other.json(
            "POST", f"{proposals}/{proposal['proposal_id']}/consent", json={"revision": 1}
        )
    assert proposal["status"] == "ratified", proposal
    return proposal


async def live_through_months(
    client: Client, clock: TravellingClock, people: dict[str, Person]
) -> Polycule:
    ash, blue, cam, dee, coach = (people[n] for n in ("ash", "blue", "cam", "dee", "coach"))
    scene = Polycule()
    for someone in people.values():
        endpoint = await someone.json("POST", "/api/webhooks/endpoints", 201, json={
            "url": "https://hooks.invalid/hook", "event_types": [],
        })
        scene.endpoints.append(endpoint["endpoint_id"])
    scene.id = polycule = await polycule_of(ash, blue, cam)
    base = f"/api/polycules/{polycule}"
    a, b, c = (str(p.account_id) for p in (ash, blue, cam))

    dates = await consented(polycule, ash, {
        "kind": "create", "title": "Dates", "terms": "We tell each other before a first date.",
        "definitions": [{"word": "date", "meaning": "any planned romantic meeting"},
                        {"word": "tell", "meaning": "a call, not a text"}],
        "parties": [a, b],
    }, blue)
    calls = await consented(polycule, ash, {
        "kind": "create", "title": "Calls", "terms": "A call on Sundays.", "parties": [a, c],
    }, cam)
    scene.agreements = [dates["agreement_id"], calls["agreement_id"]]

    # Disclosures: to Blue alone, then corrected to Blue alone; to the whole polycule as it
    # is now (Dee is not in it yet).
    for name, body in (
        ("to_blue", {"kind": "feelings", "text": "I felt left out.", "recipients": [b]}),
        ("to_everyone", {"kind": "new_connection", "text": "I met someone.",
                         "audience": "polycule"}),
    ):
        made = await ash.json("POST", f"{base}/disclosures", 201, json=body)
        scene.disclosures[name] = made["disclosure_id"]
    correction = await ash.json("POST", f"{base}/disclosures", 201, json={
        "kind": "feelings", "text": "I felt left out, and angry.", "recipients": [b],
        "corrects_disclosure_id": scene.disclosures["to_blue"],
    })
    scene.disclosures["to_blue_corrected"] = correction["disclosure_id"]
    # A correction would name what it corrects: it is never told to Cam, who was not told.
    wider = await ash.request("POST", f"{base}/disclosures", json={
        "kind": "feelings", "text": "Cam should know too.", "recipients": [b, c],
        "corrects_disclosure_id": scene.disclosures["to_blue"],
    })
    assert wider.status == 409
    assert error_of(await wider.json())["code"] == "correction_beyond_audience"

    # The first breach of Dates, between Ash and Blue; its repair ends.
    clock.advance(days=1)
    first = await ash.json("POST", f"{base}/breaches", 201, json={
        "agreement_id": dates["agreement_id"], "breached_by": b,
        "happened_at": clock.now().isoformat(), "what_happened": "Not told first.",
    })
    scene.breaches["first"] = first["breach_id"]
    await blue.json("POST", f"{base}/breaches/{first['breach_id']}/repair/responsibility",
                    json={"words": "I should have called."})
    await ash.json("POST", f"{base}/breaches/{first['breach_id']}/repair/end",
                   json={"note": "Behind us."})

    # A breach of Calls by Cam, which Ash lets Blue see too.
    calls_breach = await ash.json("POST", f"{base}/breaches", 201, json={
        "agreement_id": calls["agreement_id"], "breached_by": c,
        "happened_at": clock.now().isoformat(), "what_happened": "No call.",
    })
    scene.breaches["calls"] = calls_breach["breach_id"]
    await ash.json("POST", f"{base}/breaches/{calls_breach['breach_id']}/audience",
                   json={"members": [b]})

    # Dee joins the polycule, then the Dates agreement; Cam tells Dee something.
    await polycule_of_joining(polycule, ash, dee)
    d = str(dee.account_id)
    amended = await consented(polycule, ash, {
        "kind": "amend", "agreement_id": dates["agreement_id"], "title": "Dates",
        "terms": "We tell each other before a first date.",
        "definitions": dates["text"]["definitions"], "added_parties": [d],
    }, blue, dee)
    scene.proposals = [p["proposal_id"] for p in (dates, calls, amended)]
    told_dee = await cam.json("POST", f"{base}/disclosures", 201, json={
        "kind": "feelings", "text": "I like you.", "recipients": [d],
    })
    scene.disclosures["cam_to_dee"] = told_dee["disclosure_id"]

    # The second breach of Dates, with Dee among the harmed; a coach supports its repair.
    clock.advance(days=20)
    second = await dee.json("POST", f"{base}/breaches", 201, json={
        "agreement_id": dates["agreement_id"], "breached_by": b,
        "happened_at": clock.now().isoformat(), "what_happened": "A date, untold.",
    })
    scene.breaches["second"] = second["breach_id"]
    repair = f"{base}/breaches/{second['breach_id']}/repair"
    await dee.json("POST", f"{repair}/factors", 201, json={"factor": "communication_or_fear"})
    await blue.json("POST", f"{repair}/commitments", 201, json={
        "what": "A call before any date.",
        "first_due_at": (clock.now() + timedelta(days=1)).isoformat(), "every_days": 7,
    })
    await ash.json("POST", f"{repair}/check-ins", 201, json={"trust": 4})
    invitation = await dee.json("POST", f"{repair}/supporters", 201, json={})
    await coach.json(
        "POST", f"/api/supporter-invitations/{invitation['token']}/accept", json={}
    )
    # Weeks on: commitments to mark and check-ins due in everyone's inbox.
    clock.advance(days=9)
    await client.app[WEBHOOK_FANOUT].catch_up_now()

    everything = {"first", "calls", "second", "to_blue", "to_everyone", "to_blue_corrected"}
    scene.may_read = {
        "ash": everything,
        "blue": everything,
        "cam": {"calls", "to_everyone", "cam_to_dee"},
        "dee": {"second", "cam_to_dee"},
        "coach": {"second"},
        "outsider": set(),
    }
    return scene


async def polycule_of_joining(polycule: str, founder: Person, newcomer: Person) -> None:
    invitation = await founder.json(
        "POST", f"/api/polycules/{polycule}/invitations", 201, json={}
    )
    await newcomer.json("POST", f"/api/invitations/{invitation['token']}/accept", json={})


def readable_routes(client: Client) -> list[str]:
    """Every route of the app that answers GET: the API's answers and the pages."""
    return sorted({path for method, path in app_routes(client) if method == "GET"})


def addresses(template: str, scene: Polycule) -> Iterator[str]:
    """The template with every combination of the polycule's ids in its placeholders, and
    each with the query strings it is also asked with."""
    values = {
        "polycule_id": [scene.id],
        "agreement_id": scene.agreements,
        "proposal_id": scene.proposals,
        "breach_id": list(scene.breaches.values()),
        "disclosure_id": list(scene.disclosures.values()),
        "endpoint_id": scene.endpoints,
        "token_id": [str(uuid.uuid4())],
        "token": [f"{uuid.uuid4().hex}.not-a-secret"],
        # A secret shown once is shown only to whoever made it, and this one is nobody's.
        "shown_id": [str(uuid.uuid4())],
    }
    names = [name for name in values if f"{{{name}}}" in template]
    unfilled = template
    for name in names:
        unfilled = unfilled.replace(f"{{{name}}}", "")
    assert "{" not in unfilled, f"{template}: a placeholder the walk has no ids for"
    for chosen in product(*(values[name] for name in names)):
        path = template
        for name, value in zip(names, chosen, strict=True):
            path = path.replace(f"{{{name}}}", value)
        yield path
        for query in ALSO_ASKED.get(template, []):
            yield f"{path}?{query}"
        if template == "/polycules/{polycule_id}/audit":
            for after in range(0, 400, PAGE_SIZE):
                yield f"{path}?after={after}"


async def read(someone: Person, path: str) -> tuple[int, str]:
    response = await someone.request("GET", path, allow_redirects=False)
    if response.content_type == "text/event-stream":
        # A live stream never ends by itself, and says only which event types changed.
        response.close()
        return response.status, ""
    return response.status, await response.text()


def ids_in(text: str, ids: dict[str, str]) -> list[str]:
    """The names of the ids that ``text`` holds, written either way a UUID is."""
    return [name for name, id in ids.items() if id in text or uuid.UUID(id).hex in text]


async def test_no_answer_or_page_names_a_breach_or_disclosure_its_reader_may_not_read(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "ash") as ash, person(client, "blue") as blue, \
            person(client, "cam") as cam, person(client, "dee") as dee, \
            person(client, "coach") as coach, person(client, "outsider") as outsider:
        people = {"ash": ash, "blue": blue, "cam": cam, "dee": dee, "coach": coach,
                  "outsider": outsider}
        scene = await live_through_months(client, clock, people)
        routes = readable_routes(client)

        leaks: list[tuple[str, str, list[str]]] = []
        seen: dict[str, set[str]] = {role: set() for role in people}
        for (role, someone), template in product(people.items(), routes):
            hidden = scene.hidden_from(role)
            for path in addresses(template, scene):
                status, text = await read(someone, path)
                assert status < 500, (role, path, status, text)
                # An id the caller wrote in the address may come back (a 404 says what was
                # not found); the path itself is refused, as the policy says elsewhere.
                asked = set(ids_in(path, hidden))
                if asked:
                    assert status in {404, 403}, (role, path, status)
                found = [name for name in ids_in(text, hidden) if name not in asked]
                if found:
                    leaks.append((role, path, found))
                seen[role] |= set(ids_in(text, scene.readable_by(role)))

        assert not leaks, "\n".join(f"{role} {path}: {found}" for role, path, found in leaks)
        # The walk saw what each may read, so it is not blind to ids in its answers.
        for role in people:
            assert seen[role] == set(scene.readable_by(role)), role
