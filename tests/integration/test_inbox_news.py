"""The inbox's news on real PostgreSQL: for any sequence of agreement and repair commands
sent through the application service, every member's inbox holds exactly what concerns
them, as a small model of the rules (written here, apart from the code) says.

The rules the model holds:
* a breach told concerns everyone who may see it (the agreement's parties, and whoever
  its reporter showed it to), the member it names and those it harmed, but not its
  teller; the member named is asked for their account until they give it;
* a dispute concerns the member who told of the breach;
* an ended agreement concerns every party but the one who ended it (revoked it, or
  proposed the ending every party agreed to);
* a review asked for concerns every other party, while that version is in force.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.clock import SystemClock
from ledger.domain.agreements import (
    Consent,
    ProposeAgreement,
    ProposeEnding,
    RequestReview,
    RevokeConsent,
)
from ledger.domain.polycules import PolyculeCommand, polycule_decider
from ledger.domain.repair import AcknowledgeBreach, DisputeBreach, ReportBreach, WidenBreachAudience
from ledger.errors import DomainError, NotFound
from ledger.http import inbox_routes
from ledger.http.context import QueryContext
from ledger.http.inbox_routes import inbox_of
from ledger.privacy import KeyRing
from ledger.service import ApplicationService
from ledger.store.events import EventStore
from projections import inbox
from tests.integration.test_agreement_projections import (
    command,
    polycule_of,
    statement,
    wording,
)
from tests.integration.test_repair_projections import tell_the_story
from tests.support import read_models_caught_up, sequential_scans_last

NAMES = ("ash", "blue", "cedar", "dune")
NEWS = {"breach_told", "report_disputed", "agreement_ended", "review_asked"}

name = st.sampled_from(NAMES)
index = st.integers(min_value=0, max_value=3)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("agree"), name, st.lists(name, min_size=1, max_size=3, unique=True)),
        st.tuples(st.just("revoke"), name, index),
        st.tuples(st.just("end"), name, index),
        st.tuples(st.just("review"), name, index),
        st.tuples(st.just("breach"), name, name, index),
        st.tuples(st.just("dispute"), index),
        st.tuples(st.just("acknowledge"), index),
        st.tuples(st.just("widen"), index, name),
    ),
    max_size=10,
)


@dataclass
class Agreement:
    agreement_id: UUID
    parties: frozenset[str]
    active: bool = True
    ended_by: str | None = None
    how: str | None = None
    reviews_asked_by: list[str] = field(default_factory=list)


@dataclass
class Breach:
    breach_id: UUID
    agreement_id: UUID
    told_by: str
    named: str
    harmed: frozenset[str]
    shown_to: set[str]
    status: str


@dataclass
class Model:
    agreements: list[Agreement] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)

    def concerning(self, member: str) -> Counter[tuple[Any, ...]]:
        """What the member's inbox should tell them: (kind, what, who, why, how, asked)."""
        told: Counter[tuple[Any, ...]] = Counter()
        for breach in self.breaches:
            if member != breach.told_by and (
                member in breach.shown_to or member == breach.named or member in breach.harmed
            ):
                why = ("you_are_named" if member == breach.named
                       else "you_are_harmed" if member in breach.harmed else "shown_to_you")
                told[("breach_told", breach.breach_id, breach.told_by, why, breach.status,
                      member == breach.named and breach.status == "reported")] += 1
            if (member == breach.told_by and breach.status == "disputed"
                    and breach.named != member):
                told[("report_disputed", breach.breach_id, breach.named, "you_told_it",
                      breach.status, False)] += 1
        for agreement in self.agreements:
            if member not in agreement.parties:
                continue
            if not agreement.active and agreement.ended_by != member:
                told[("agreement_ended", agreement.agreement_id, agreement.ended_by,
                      "you_were_a_party", agreement.how, False)] += 1
            if agreement.active:
                for asker in agreement.reviews_asked_by:
                    if asker != member:
                        told[("review_asked", agreement.agreement_id, asker,
                              "you_are_a_party", None, False)] += 1
        return told


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
@example(steps=[
    ("agree", "ash", ["blue", "cedar"]), ("breach", "blue", "ash", 0), ("widen", 0, "dune"),
    ("dispute", 0), ("review", "cedar", 0), ("revoke", "blue", 0),
])
@example(steps=[
    ("agree", "blue", ["cedar"]), ("breach", "cedar", "cedar", 0), ("end", "cedar", 0),
])
async def test_every_members_inbox_holds_exactly_what_concerns_them(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool, keyring: KeyRing,
    steps: list[tuple[Any, ...]],
) -> None:
    polycule = await polycule_of(service, store, *NAMES)
    model = Model()

    async def done(actor: str, kind: type[Any], /, **fields: Any) -> bool:
        """Whether the command was recorded (a refused one changes nothing)."""
        sent: PolyculeCommand = command(kind, polycule.members[actor], **fields)
        try:
            outcome = await service.handle(polycule.id, polycule_decider, sent)
        except (DomainError, NotFound):
            return False
        return bool(outcome.events)

    for step in steps:
        what = step[0]
        if what == "agree":
            _, proposer, others = step
            parties = frozenset({proposer, *others})
            if len(parties) < 2:
                continue
            proposal_id, agreement_id = uuid.uuid4(), uuid.uuid4()
            assert await done(
                proposer, ProposeAgreement, proposal_id=proposal_id, agreement_id=agreement_id,
                parties=tuple(polycule.members[p] for p in sorted(parties)),
                text=wording("Sundays", "Sunday mornings are ours"),
            )
            for party in sorted(parties - {proposer}):
                assert await done(party, Consent, proposal_id=proposal_id, revision=1)
            model.agreements.append(Agreement(agreement_id, parties))
        elif what in {"revoke", "end", "review"} and model.agreements:
            _, actor, number = step
            agreement = model.agreements[number % len(model.agreements)]
            if what == "revoke":
                if await done(actor, RevokeConsent, agreement_id=agreement.agreement_id):
                    agreement.active, agreement.ended_by, agreement.how = False, actor, "revoked"
            elif what == "review":
                if await done(actor, RequestReview, agreement_id=agreement.agreement_id,
                              note="this no longer works for me"):
                    agreement.reviews_asked_by.append(actor)
            else:
                proposal_id = uuid.uuid4()
                if await done(actor, ProposeEnding, proposal_id=proposal_id,
                              agreement_id=agreement.agreement_id):
                    for party in sorted(agreement.parties - {actor}):
                        assert await done(party, Consent, proposal_id=proposal_id, revision=1)
                    agreement.active, agreement.ended_by = False, actor
                    agreement.how = "ended_by_proposal"
        elif what == "breach" and model.agreements:
            _, teller, named, number = step
            agreement = model.agreements[number % len(model.agreements)]
            breach_id = uuid.uuid4()
            if await done(teller, ReportBreach, breach_id=breach_id,
                          agreement_id=agreement.agreement_id,
                          breached_by=polycule.members[named], happened_at=datetime.now(UTC),
                          what_happened="it was crossed"):
                model.breaches.append(Breach(
                    breach_id, agreement.agreement_id, teller, named,
                    harmed=agreement.parties - {named}, shown_to=set(agreement.parties),
                    status="acknowledged" if teller == named else "reported",
                ))
        elif what in {"dispute", "acknowledge"} and model.breaches:
            breach = model.breaches[step[1] % len(model.breaches)]
            if what == "dispute":
                if await done(breach.named, DisputeBreach, breach_id=breach.breach_id,
                              account="that is not what happened"):
                    breach.status = "disputed"
            elif await done(breach.named, AcknowledgeBreach, breach_id=breach.breach_id):
                breach.status = "acknowledged"
        elif what == "widen" and model.breaches:
            breach = model.breaches[step[1] % len(model.breaches)]
            if await done(breach.told_by, WidenBreachAudience, breach_id=breach.breach_id,
                          members=(polycule.members[step[2]],)):
                breach.shown_to.add(step[2])
    await read_models_caught_up(pool)

    context = QueryContext(pool, keyring, SystemClock(), store, service)
    names = {member: name for name, member in polycule.members.items()}
    for member_name in NAMES:
        shown = await inbox_of(context, polycule.members[member_name])
        held = Counter(
            (entry.kind, entry.breach_id or entry.agreement_id,
             names[entry.by] if entry.by else None, entry.why, entry.how, entry.account_wanted)
            for entry in shown.entries if entry.kind in NEWS
        )
        assert held == model.concerning(member_name), member_name
        assert shown.unread == len(shown.entries), "nothing was read yet"
        for entry in shown.entries:
            if entry.kind == "review_asked":
                assert entry.note == "this no longer works for me"


async def test_every_read_of_the_news_uses_an_index(
    service: ApplicationService, store: EventStore, pool: asyncpg.Pool
) -> None:
    story = await tell_the_story(service, store)
    await read_models_caught_up(pool)
    member, breaches = story.member("blue"), [story.ids["first"], story.ids["second"]]
    reads: dict[str, tuple[Any, ...]] = {
        "SUPPORTED_POLYCULES": (member,),
        "BREACHES_TOUCHING": (member, breaches),
        "AGREEMENTS_ENDED": (member,),
        "REVIEWS_ASKED": (member,),
        "MY_COMMITMENTS": (member, breaches),
        "REPAIRS_SUPPORTED": (member, breaches),
        "_READ": (member, ["agreement_ended:x:1"]),
    }
    async with pool.acquire() as connection, connection.transaction():
        await sequential_scans_last(connection)
        for name, arguments in reads.items():
            plan = "\n".join(
                row[0] for row in await connection.fetch(
                    f"EXPLAIN {statement(name, inbox, inbox_routes)}", *arguments
                )
            )
            assert "Seq Scan" not in plan, f"{name}:\n{plan}"
