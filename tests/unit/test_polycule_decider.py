"""Given events, when a command, then events or an error — a polycule's membership."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.polycules import (
    AcceptInvitation,
    FoundPolycule,
    InvitationRevoked,
    InviteMember,
    LeavePolycule,
    MemberInvited,
    MemberJoined,
    MemberLeft,
    Polycule,
    PolyculeCommand,
    PolyculeFounded,
    RevokeInvitation,
    polycule_decider,
)
from ledger.errors import DomainError, NotFound

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
POLYCULE = uuid.uuid4()
ROBIN, SAM, ALEX = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
INVITATION = uuid.uuid4()


def context(actor: uuid.UUID, at: datetime = NOW) -> dict[str, object]:
    return {"actor": actor, "at": at, "command_id": uuid.uuid4()}


def founded() -> list[object]:
    return [
        PolyculeFounded(polycule_id=POLYCULE, founder_id=ROBIN, name="Pancakes"),
        MemberJoined(member_id=ROBIN, display_name="Robin"),
    ]


def invited(secret: str = "s1", expires: datetime = NOW + timedelta(days=7)) -> MemberInvited:
    return MemberInvited(
        invitation_id=INVITATION, invited_by=ROBIN, secret_hash=secret, expires_at=expires
    )


def given_events(*events: object) -> Polycule:
    return polycule_decider.fold(events)  # type: ignore[arg-type]


def test_founding_makes_the_founder_the_first_member() -> None:
    command = FoundPolycule(**context(ROBIN), polycule_id=POLYCULE, name="Pancakes",
                            display_name="Robin")

    assert polycule_decider.decide(given_events(), command) == founded()


def test_a_polycule_is_founded_once() -> None:
    command = FoundPolycule(**context(SAM), polycule_id=POLYCULE, name="x", display_name="Sam")

    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(given_events(*founded()), command)

    assert refused.value.code == "already_founded"


def test_a_member_invites_with_a_note() -> None:
    command = InviteMember(**context(ROBIN), invitation_id=INVITATION, secret_hash="s1",
                           expires_at=NOW + timedelta(days=7), note="come to brunch")

    [event] = polycule_decider.decide(given_events(*founded()), command)

    assert event == MemberInvited(invitation_id=INVITATION, invited_by=ROBIN, secret_hash="s1",
                                  expires_at=NOW + timedelta(days=7), note="come to brunch",
                                  invited_at=NOW)


@pytest.mark.parametrize(
    ("history", "actor", "expires", "code"),
    [
        ("founded", SAM, NOW + timedelta(days=1), "not_a_member"),
        ("founded", ROBIN, NOW - timedelta(seconds=1), "invitation_expiry_past"),
        ("invited", ROBIN, NOW + timedelta(days=1), "invitation_exists"),
    ],
)
def test_invitations_that_are_refused(
    history: str, actor: uuid.UUID, expires: datetime, code: str
) -> None:
    events = [*founded(), invited()] if history == "invited" else founded()
    command = InviteMember(**context(actor), invitation_id=uuid.uuid4(), secret_hash="s1",
                           expires_at=expires)

    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(given_events(*events), command)

    assert refused.value.code == code


def test_accepting_joins_once() -> None:
    accept = AcceptInvitation(**context(SAM), secret_hash="s1", display_name="Sam")
    state = given_events(*founded(), invited())

    [joined] = polycule_decider.decide(state, accept)

    assert joined == MemberJoined(member_id=SAM, display_name="Sam", invitation_id=INVITATION)
    again = AcceptInvitation(**context(ALEX), secret_hash="s1", display_name="Alex")
    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(polycule_decider.evolve(state, joined), again)
    assert refused.value.code == "invitation_used"


def test_an_expired_or_unknown_invitation_cannot_be_accepted() -> None:
    state = given_events(*founded(), invited(expires=NOW))

    with pytest.raises(DomainError) as expired:
        polycule_decider.decide(
            state, AcceptInvitation(**context(SAM), secret_hash="s1", display_name="Sam")
        )
    with pytest.raises(NotFound):
        polycule_decider.decide(
            state, AcceptInvitation(**context(SAM), secret_hash="nope", display_name="Sam")
        )

    assert expired.value.code == "invitation_expired"


def test_any_member_may_revoke_an_invitation_not_yet_used_and_it_then_admits_nobody() -> None:
    state = given_events(*founded(), invited(),
                         MemberJoined(member_id=ALEX, display_name="Alex", invitation_id=None))

    [revoked] = polycule_decider.decide(
        state, RevokeInvitation(**context(ALEX), invitation_id=INVITATION)
    )
    after = polycule_decider.evolve(state, revoked)

    assert revoked == InvitationRevoked(invitation_id=INVITATION, revoked_by=ALEX)
    assert not after.invitations["s1"].outstanding(NOW)
    with pytest.raises(DomainError) as refused:
        polycule_decider.decide(
            after, AcceptInvitation(**context(SAM), secret_hash="s1", display_name="Sam")
        )
    assert refused.value.code == "invitation_revoked"
    with pytest.raises(DomainError) as again:
        polycule_decider.decide(after, RevokeInvitation(**context(ROBIN), invitation_id=INVITATION))
    assert again.value.code == "invitation_revoked"


@pytest.mark.parametrize(
    ("history", "actor", "invitation", "refusal"),
    [
        ("invited", SAM, INVITATION, "not_a_member"),
        ("invited", ROBIN, uuid.uuid4(), "not_found"),
        ("accepted", ROBIN, INVITATION, "invitation_used"),
    ],
)
def test_revocations_that_are_refused(
    history: str, actor: uuid.UUID, invitation: uuid.UUID, refusal: str
) -> None:
    events = [*founded(), invited()]
    if history == "accepted":
        events.append(MemberJoined(member_id=SAM, display_name="Sam", invitation_id=INVITATION))

    with pytest.raises((DomainError, NotFound)) as refused:
        polycule_decider.decide(
            given_events(*events), RevokeInvitation(**context(actor), invitation_id=invitation)
        )

    assert refused.value.code == refusal


def test_a_member_who_leaves_stays_in_history_but_not_among_members() -> None:
    state = given_events(*founded(), invited(),
                         MemberJoined(member_id=SAM, display_name="Sam",
                                      invitation_id=INVITATION))

    [left] = polycule_decider.decide(state, LeavePolycule(**context(SAM)))
    after = polycule_decider.evolve(state, left)

    assert left == MemberLeft(member_id=SAM, reason="left")
    assert after.members == (ROBIN,)
    with pytest.raises(DomainError):
        polycule_decider.decide(after, LeavePolycule(**context(SAM)))


def test_nothing_can_happen_to_a_polycule_that_was_never_founded() -> None:
    with pytest.raises(NotFound):
        polycule_decider.decide(given_events(), LeavePolycule(**context(ROBIN)))


PEOPLE = [ROBIN, SAM, ALEX, uuid.uuid4()]
SECRETS = ["a", "b", "c"]


def invitation_of(secret: str) -> uuid.UUID:
    return uuid.uuid5(POLYCULE, secret)


commands = st.one_of(
    st.builds(lambda who, secret, days: InviteMember(
        **context(who), invitation_id=invitation_of(secret), secret_hash=secret,
        expires_at=NOW + timedelta(days=days)),
        st.sampled_from(PEOPLE), st.sampled_from(SECRETS), st.integers(-1, 3)),
    st.builds(lambda who, secret: RevokeInvitation(
        **context(who), invitation_id=invitation_of(secret)),
        st.sampled_from(PEOPLE), st.sampled_from(SECRETS)),
    st.builds(lambda who, secret, days: AcceptInvitation(
        **context(who, NOW + timedelta(days=days)), secret_hash=secret, display_name="x"),
        st.sampled_from(PEOPLE), st.sampled_from(["a", "b", "c"]), st.integers(0, 4)),
    st.builds(lambda who: LeavePolycule(**context(who)), st.sampled_from(PEOPLE)),
)


@given(st.lists(commands, max_size=25))
def test_membership_rules_hold_whatever_people_try(tried: list[PolyculeCommand]) -> None:
    state = given_events(*founded())
    joins_by_invitation: dict[uuid.UUID, int] = {}
    revoked: set[uuid.UUID] = set()
    for command in tried:
        was_member = state.is_member(command.actor)
        try:
            events = polycule_decider.decide(state, command)
        except (DomainError, NotFound):
            continue
        for event in events:
            if isinstance(event, MemberInvited | MemberLeft | InvitationRevoked):
                assert was_member, "only members invite, revoke or leave"
            if isinstance(event, InvitationRevoked):
                assert event.invitation_id not in joins_by_invitation, "a used one stays used"
                revoked.add(event.invitation_id)
            if isinstance(event, MemberJoined):
                assert not was_member, "nobody joins twice"
                assert event.invitation_id is not None
                assert event.invitation_id not in revoked, "a revoked invitation admits nobody"
                joins_by_invitation[event.invitation_id] = (
                    joins_by_invitation.get(event.invitation_id, 0) + 1
                )
            state = polycule_decider.evolve(state, event)
        assert len(set(state.members)) == len(state.members)
    assert all(count == 1 for count in joins_by_invitation.values()), "invitations are single-use"
