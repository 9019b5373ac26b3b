"""Who may read which breach, repair and disclosure: one rule, asked two ways.

A route naming a breach or a disclosure in its path asks ``policy.authorize``; a list asks
``policy.readable_by`` for the ids to hand the read model. Whatever the polycule holds,
both answer alike for everyone — so a list can never show what the route would refuse.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.auth import policy
from ledger.auth.policy import Rule
from ledger.domain.disclosures import Disclosure, Disclosures
from ledger.domain.polycules import Polycule
from ledger.domain.repair import Breach, Breaches

PEOPLE = tuple(uuid.uuid4() for _ in range(6))
POLYCULE = uuid.uuid4()


@st.composite
def breaches(draw: st.DrawFn) -> Breach:
    parties = draw(st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=4, unique=True))
    breached_by = draw(st.sampled_from(parties))
    added = draw(st.sets(st.sampled_from(PEOPLE), max_size=2))
    return Breach(
        breach_id=uuid.uuid4(),
        agreement_id=uuid.uuid4(),
        version=1,
        breached_by=breached_by,
        reported_by=draw(st.sampled_from(parties)),
        harmed=tuple(party for party in parties if party != breached_by),
        audience=frozenset(parties) | added,
        proposals_before=0,
        supporters=frozenset(draw(st.sets(st.sampled_from(PEOPLE), max_size=2))),
    )


@st.composite
def disclosures(draw: st.DrawFn) -> Disclosure:
    discloser = draw(st.sampled_from(PEOPLE))
    others = [person for person in PEOPLE if person != discloser]
    return Disclosure(
        disclosure_id=uuid.uuid4(),
        discloser=discloser,
        kind="feelings",
        recipients=tuple(draw(st.lists(st.sampled_from(others), min_size=1, unique=True))),
    )


@st.composite
def polycules(draw: st.DrawFn) -> Polycule:
    members = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, unique=True))
    told = draw(st.lists(disclosures(), max_size=4))
    crossed = draw(st.lists(breaches(), max_size=4))
    return Polycule(
        founded=True,
        members=tuple(members),
        disclosures=Disclosures({d.disclosure_id: d for d in told}),
        breaches=Breaches({b.breach_id: b for b in crossed}),
    )


def path(**ids: UUID) -> dict[str, str]:
    return {"polycule_id": str(POLYCULE), **{name: str(id) for name, id in ids.items()}}


@settings(max_examples=200)
@given(state=polycules(), reader=st.sampled_from((*PEOPLE, uuid.uuid4())))
def test_a_list_shows_exactly_what_the_route_would_let_the_reader_open(
    state: Polycule, reader: UUID
) -> None:
    readable = policy.readable_by(reader, state)

    assert readable.breaches == {
        breach_id for breach_id in state.breaches.items
        if policy.may(Rule.BREACH_AUDIENCE, "GET", reader, state, path(breach_id=breach_id))
    }
    assert readable.repairs == {
        breach_id for breach_id in state.breaches.items
        if policy.may(Rule.REPAIR_READER, "GET", reader, state, path(breach_id=breach_id))
    }
    assert readable.disclosures == {
        disclosure_id for disclosure_id in state.disclosures.items
        if policy.may(
            Rule.DISCLOSURE_AUDIENCE, "GET", reader, state, path(disclosure_id=disclosure_id)
        )
    }


@given(state=polycules(), reader=st.sampled_from(PEOPLE))
def test_nothing_is_readable_in_a_polycule_one_is_not_in_but_a_supported_repair(
    state: Polycule, reader: UUID
) -> None:
    outside = Polycule(
        founded=True,
        members=tuple(member for member in PEOPLE if member != reader),
        disclosures=state.disclosures,
        breaches=state.breaches,
    )

    readable = policy.readable_by(reader, outside)

    supported = {b.breach_id for b in state.breaches.items.values() if reader in b.supporters}
    assert readable == policy.Readable(
        breaches=frozenset(supported), repairs=frozenset(supported)
    )


ASH, BLUE, DEE, COACH = PEOPLE[:4]


def test_a_member_who_became_a_party_later_reads_only_the_breaches_they_were_party_to() -> None:
    before = Breach(uuid.uuid4(), uuid.uuid4(), 1, BLUE, ASH, (ASH,), frozenset({ASH, BLUE}), 0)
    after = Breach(uuid.uuid4(), before.agreement_id, 2, BLUE, DEE, (ASH, DEE),
                   frozenset({ASH, BLUE, DEE}), 1, supporters=frozenset({COACH}))
    state = Polycule(
        founded=True, members=(ASH, BLUE, DEE),
        breaches=Breaches({before.breach_id: before, after.breach_id: after}),
    )

    assert policy.readable_by(DEE, state).breaches == {after.breach_id}
    assert policy.readable_by(COACH, state) == policy.Readable(
        breaches=frozenset({after.breach_id}), repairs=frozenset({after.breach_id})
    )
    assert policy.readable_by(ASH, state).breaches == {before.breach_id, after.breach_id}
