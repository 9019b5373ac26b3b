"""A repair lived over months, over HTTP against real PostgreSQL: a breach reported by the
hurt party, disputed then acknowledged; responsibility, impact, apology; a decision to
rebuild; factors named and addressed; a new boundary ratified; a weekly commitment kept
and missed; check-ins where trust rises with a setback; closing as restored — and the
repair history gives every figure. Then who may not see or do what, and erasure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.http.conftest import TravellingClock
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client, error_of

WEEK = timedelta(days=7)


async def agreement_between(polycule: str, proposer: Person, other: Person) -> str:
    proposal = await proposer.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
        "kind": "create", "title": "Before a first date",
        "terms": "We tell each other before a first date with someone new.",
        "definitions": [{"word": "date", "meaning": "any planned romantic meeting"},
                        {"word": "tell", "meaning": "a call, not a text"}],
        "category": "disclosure", "if_broken": "We talk it through within two days.",
        "parties": [str(proposer.account_id), str(other.account_id)],
    })
    await other.json("POST", f"/api/polycules/{polycule}/proposals/"
                             f"{proposal['proposal_id']}/consent", json={"revision": 1})
    return str(proposal["agreement_id"])


async def step(member: Person, path: str, body: dict[str, Any], status: int = 200) -> Any:
    return await member.json("POST", path, status, json=body)


async def test_a_repair_over_months_and_its_history(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex:
        polycule = await polycule_of(robin, sam, alex)
        agreement = await agreement_between(polycule, robin, sam)
        breaches = f"/api/polycules/{polycule}/breaches"
        r, s = str(robin.account_id), str(sam.account_id)

        # An earlier, smaller breach: self-reported by Sam, and later ended.
        clock.advance(days=3)
        earlier = await sam.json("POST", breaches, 201, json={
            "agreement_id": agreement, "breached_by": s,
            "happened_at": (clock.now() - timedelta(hours=5)).isoformat(),
            "what_happened": "I told you after the coffee, not before.",
        })
        assert earlier["self_reported"] is True and earlier["status"] == "acknowledged"
        await step(robin, f"{breaches}/{earlier['breach_id']}/repair/end",
                   {"note": "We talked; it is behind us."})

        # The breach this story is about, reported by the one who was hurt.
        clock.advance(days=20)
        happened = clock.now() - timedelta(days=2)
        reported = await robin.json("POST", breaches, 201, json={
            "agreement_id": agreement, "breached_by": s, "happened_at": happened.isoformat(),
            "what_happened": "You went on a date on Friday and I heard it from a friend.",
        })
        bid = reported["breach_id"]
        repair = f"{breaches}/{bid}/repair"
        assert (reported["version"], reported["self_reported"]) == (1, False)
        assert sorted(reported["parties"]) == sorted([r, s]) and reported["harmed"] == [r]

        disputed = await step(sam, f"{breaches}/{bid}/dispute",
                              {"account": "It was a work dinner, I thought."})
        assert disputed["status"] == "disputed"
        clock.advance(days=1)
        acknowledged = await step(sam, f"{breaches}/{bid}/acknowledge",
                                  {"account": "It was a date. I knew it."})
        assert acknowledged["status"] == "acknowledged"
        assert acknowledged["dispute"] == "It was a work dinner, I thought."
        assert acknowledged["acknowledgement"] == "It was a date. I knew it."

        await step(sam, f"{repair}/responsibility",
                   {"words": "I hid it because I was afraid of your reaction."})
        await step(robin, f"{repair}/impact", {"words": "I felt foolish and alone."})
        await step(sam, f"{repair}/apology", {"words": "I am sorry. You deserved to know."})
        await step(robin, f"{repair}/decisions", {"decision": "rebuild"})
        fear = await step(robin, f"{repair}/factors",
                          {"factor": "communication_or_fear"}, 201)
        fuzzy = await step(sam, f"{repair}/factors", {"factor": "fuzzy_agreement",
                                                      "note": "We never said what a date is."},
                           201)
        fuzzy_id = next(f["factor_id"] for f in fuzzy["factors"]
                        if f["factor"] == "fuzzy_agreement")
        assert {f["factor"] for f in fear["factors"]} == {"communication_or_fear"}
        await step(sam, f"{repair}/factors/{fuzzy_id}/addressed",
                   {"note": "Defined in the new boundary."})

        # A new boundary, proposed during the repair, linked, and ratified.
        boundary = await sam.json("POST", f"/api/polycules/{polycule}/proposals", 201, json={
            "kind": "create", "title": "Dinners too",
            "terms": "Any one-on-one dinner with someone new is mentioned beforehand.",
            "if_broken": "We pause new dates for a month.", "category": "disclosure",
            "parties": [r, s],
        })
        linked = await step(robin, f"{repair}/boundaries",
                            {"proposal_id": boundary["proposal_id"]})
        assert linked["boundaries"][0]["status"] == "open"
        await step(robin, f"/api/polycules/{polycule}/proposals/"
                          f"{boundary['proposal_id']}/consent", {"revision": 1})

        # A weekly commitment; check-ins as the weeks go by.
        first_due = clock.now() + WEEK
        committed = await step(sam, f"{repair}/commitments", {
            "what": "A call every Sunday evening about the week ahead.",
            "first_due_at": first_due.isoformat(), "every_days": 7,
        }, 201)
        commitment = committed["commitments"][0]["commitment_id"]
        feelings = [(3, False), (4, False), (5, False), (3, True), (6, False), (7, False)]
        marks = ["kept", "kept", "missed", "kept", "kept"]
        await step(robin, f"{repair}/check-ins", {"trust": feelings[0][0]}, 201)
        for week, mark in enumerate(marks, start=1):
            clock.advance(days=7)
            await step(robin, f"{repair}/commitments/{commitment}/occurrences/{week}",
                       {"mark": mark})
            trust, setback = feelings[week]
            await step(robin, f"{repair}/check-ins", {"trust": trust, "setback": setback}, 201)
        await step(sam, f"{repair}/check-ins", {"trust": 6, "note": "Hopeful."}, 201)

        # Three months on, Robin chooses restoration: the repair closes as restored.
        clock.advance(days=60)
        closed = await step(robin, f"{repair}/restore", {})

        history = await robin.json("GET", repair)
        assert closed["breach"]["repair_status"] == "restored"
        assert history["breach"]["repair_status"] == "restored"
        # One line per participant, the member who breached first.
        assert [(line["member_id"], [p["trust"] for p in line["points"]])
                for line in history["trust"]] == [(s, [6]), (r, [3, 4, 5, 3, 6, 7])]
        robin_line = next(line for line in history["trust"] if line["member_id"] == r)
        assert [p["setback"] for p in robin_line["points"]] == [f[1] for f in feelings]
        [weekly] = history["commitments"]
        assert (weekly["kept"], weekly["missed"], weekly["streak"]) == (4, 1, 2)
        assert (history["kept"], history["missed"]) == (4, 1)
        assert [m["mark"] for m in weekly["marks"]] == marks
        assert all(m["marked_by"] == r for m in weekly["marks"])
        # Occurrence n is due 7n days after the commitment; 95 days on, the sixth to the
        # thirteenth are due and unmarked, and the fourteenth is next.
        assert [o["occurrence"] for o in weekly["overdue"]] == list(range(6, 14))
        assert weekly["next_due"]["occurrence"] == 14
        assert (history["factors_open"], history["factors_addressed"]) == (1, 1)
        assert history["current_decisions"] == {r: "rebuild"}
        [linked_boundary] = history["boundaries"]
        assert linked_boundary["status"] == "ratified"
        assert linked_boundary["if_broken"] == "We pause new dates for a month."
        since = clock.now() - datetime.fromisoformat(history["breach"]["happened_at"])
        assert history["days_since_breach"] == since.days == 2 + 1 + 35 + 60
        assert [(e["breach_id"], e["repair_status"]) for e in history["earlier_breaches"]] == [
            (earlier["breach_id"], "ended")
        ]
        whats = [entry["what"] for entry in history["timeline"]]
        assert whats[:6] == [
            "BreachReported", "BreachDisputed", "BreachAcknowledged", "ResponsibilityTaken",
            "ImpactShared", "ApologyMade",
        ]
        assert whats[-2:] == ["RestorationChosen", "RepairClosed"]
        assert whats.count("CommitmentMarked") == 5 and whats.count("CheckInRecorded") == 7
        assert history["names"] == {r: "Robin", s: "Sam"}


async def test_who_may_not_see_or_do_what(client: Client, clock: TravellingClock) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam, \
            person(client, "alex") as alex, person(client, "dana") as coach:
        polycule = await polycule_of(robin, sam, alex)
        agreement = await agreement_between(polycule, robin, sam)
        breaches = f"/api/polycules/{polycule}/breaches"
        r, s = str(robin.account_id), str(sam.account_id)
        too_early = await robin.request("POST", breaches, json={
            "agreement_id": agreement, "breached_by": s,
            "happened_at": (clock.now() - timedelta(days=30)).isoformat(),
            "what_happened": "Before we had agreed anything.",
        })
        assert too_early.status == 409
        assert error_of(await too_early.json())["code"] == "agreement_not_in_force"
        bid = (await robin.json("POST", breaches, 201, json={
            "agreement_id": agreement, "breached_by": s,
            "happened_at": clock.now().isoformat(), "what_happened": "Not told.",
        }))["breach_id"]
        repair = f"{breaches}/{bid}/repair"
        committed = await step(sam, f"{repair}/commitments", {
            "what": "Tell first.", "first_due_at": clock.now().isoformat(),
        }, 201)
        commitment = committed["commitments"][0]["commitment_id"]

        own_mark = await sam.request(
            "POST", f"{repair}/commitments/{commitment}/occurrences/1", json={"mark": "kept"}
        )
        own_restore = await sam.request("POST", f"{repair}/restore", json={})
        assert (own_mark.status, error_of(await own_mark.json())["code"]) == (
            403, "not_by_the_one_who_committed"
        )
        assert (own_restore.status, error_of(await own_restore.json())["code"]) == (
            403, "harmed_party_only"
        )

        # Alex is a member but no party: neither the breach nor its repair exist for them.
        for path in (f"{breaches}/{bid}", repair):
            assert (await alex.request("GET", path)).status == 404
        assert await alex.json("GET", breaches) == []
        await step(robin, f"{breaches}/{bid}/audience", {"members": [str(alex.account_id)]})
        assert (await alex.request("GET", f"{breaches}/{bid}")).status == 200
        assert (await alex.request("GET", repair)).status == 404  # the repair stays theirs

        # A supporter reads this repair, and nothing else.
        invitation = await step(robin, f"{repair}/supporters", {}, 201)
        supporting = await coach.json(
            "POST", f"/api/supporter-invitations/{invitation['token']}/accept", json={}
        )
        assert supporting == {"polycule_id": polycule, "breach_id": bid}
        read = await coach.json("GET", repair)
        assert read["names"] == {r: "Robin", s: "Sam"}
        assert (await coach.request("GET", f"{breaches}/{bid}")).status == 200
        refused = await coach.request("POST", f"{repair}/check-ins", json={"trust": 5})
        assert refused.status == 403
        for path in (f"/api/polycules/{polycule}", f"/api/polycules/{polycule}/members",
                     f"/api/polycules/{polycule}/events", breaches,
                     f"/api/polycules/{polycule}/agreements"):
            assert (await coach.request("GET", path)).status == 404, path

        # A disclosure to Sam alone: Alex cannot learn even its kind.
        told = await robin.json("POST", f"/api/polycules/{polycule}/disclosures", 201, json={
            "kind": "sexual_health_result", "text": "My test came back clear.",
            "recipients": [s],
        })
        assert (await alex.request(
            "GET", f"/api/polycules/{polycule}/disclosures/{told['disclosure_id']}"
        )).status == 404
        assert await alex.json("GET", f"/api/polycules/{polycule}/disclosures") == []
        audit = await alex.json("GET", f"/api/polycules/{polycule}/events?limit=1000")
        assert "sexual_health_result" not in str(audit)
        assert "DisclosureMade" not in {e["event_type"] for e in audit["events"]}
        opaque = [e for e in audit["events"] if not e["readable"]]
        # The disclosure and the repair's three steps (the commitment, the supporter invited
        # and joined): a place, a time and hashes, nothing more.
        assert len(opaque) == 4
        assert {key for e in opaque for key, value in e.items() if value is not None} == {
            "stream_version", "recorded_at", "previous_hash", "hash", "readable"
        }
        inbox = await sam.json("GET", "/api/me/inbox")
        assert [d["disclosure_id"] for d in inbox["disclosures_to_acknowledge"]] == [
            told["disclosure_id"]
        ]
        acknowledged = await step(
            sam, f"/api/polycules/{polycule}/disclosures/{told['disclosure_id']}/acknowledge", {}
        )
        assert [a["member_id"] for a in acknowledged["acknowledgements"]] == [s]
        assert (await alex.json("GET", "/api/me/inbox"))["disclosures_to_acknowledge"] == []


async def test_erasing_the_breaching_member_keeps_the_others_words(
    client: Client, clock: TravellingClock
) -> None:
    async with person(client, "robin") as robin, person(client, "sam") as sam:
        polycule = await polycule_of(robin, sam)
        agreement = await agreement_between(polycule, robin, sam)
        breaches = f"/api/polycules/{polycule}/breaches"
        bid = (await robin.json("POST", breaches, 201, json={
            "agreement_id": agreement, "breached_by": str(sam.account_id),
            "happened_at": clock.now().isoformat(), "what_happened": "It hurt to find out.",
        }))["breach_id"]
        repair = f"{breaches}/{bid}/repair"
        await step(sam, f"{repair}/apology", {"words": "I am truly sorry."})
        await step(robin, f"{repair}/impact", {"words": "I could not sleep."})

        await sam.json("DELETE", "/api/account", json={"handle": "sam", "password": PASSWORD})

        history = await robin.json("GET", repair)
        words = {entry["what"]: entry["words"] for entry in history["timeline"]}
        assert words["ApologyMade"] == "[erased]"
        assert words["ImpactShared"] == "I could not sleep."
        assert history["breach"]["what_happened"] == "It hurt to find out."
        verified = await robin.json("GET", f"/api/polycules/{polycule}/verify")
        assert verified["verified"] is True and verified["first_break"] is None
