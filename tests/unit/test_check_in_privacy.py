"""A check-in kept private is its author's alone: whatever the polycule holds, whoever
asks, the record (``may_read_event``, which the audit view, live updates and webhooks
ask), the repair's queries (``private_check_ins_readable``) and the rule itself
(``may_read_check_in``) agree — a shared check-in is read by everyone who reads the
repair, a private one by its author and nobody else, not even the repair's supporters."""

from __future__ import annotations

import uuid
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.auth import policy
from ledger.domain.polycules import Polycule
from ledger.domain.repair import CheckInRecorded
from tests.unit.test_audience_policy import PEOPLE, polycules


@settings(max_examples=300)
@given(
    state=polycules(),
    data=st.data(),
    reader=st.sampled_from((*PEOPLE, uuid.uuid4())),
    private=st.booleans(),
)
def test_a_private_check_in_is_read_by_its_author_alone(
    state: Polycule, data: st.DataObject, reader: UUID, private: bool
) -> None:
    breaches = list(state.breaches.items.values())
    if not breaches:
        return
    breach = data.draw(st.sampled_from(breaches))
    author = data.draw(st.sampled_from((breach.breached_by, *breach.harmed)))
    recorded = CheckInRecorded(
        breach_id=breach.breach_id, member_id=author, trust=4, private=private
    ).model_dump(mode="json")

    reads_repair = policy.may_read_repair(reader, state, breach)
    expected = reads_repair and (not private or reader == author)
    assert policy.may_read_check_in(reader, state, breach, author, private) == expected
    if state.is_member(reader):
        assert policy.may_read_event(reader, state, "CheckInRecorded", recorded) == expected
    # The repair's queries show a private check-in only of an author the policy names.
    shown_private = policy.private_check_ins_readable(reader, state, breach)
    assert shown_private == (frozenset({reader}) if reads_repair else frozenset())
    if reads_repair:
        assert (not private or author in shown_private) == expected
