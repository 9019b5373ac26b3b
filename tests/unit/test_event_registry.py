"""Events declared once: stored form, reading old versions, and what may not be declared."""

from __future__ import annotations

import uuid

import pytest

from ledger.domain.polycules import PolyculeFounded
from ledger.events import EVENTS, DomainEvent, EventRegistry, UnknownEventType


def test_an_event_round_trips_through_its_stored_form() -> None:
    event = PolyculeFounded(polycule_id=uuid.uuid4(), founder_id=uuid.uuid4(), name="Pancakes")

    name, version, data = EVENTS.encode(event)

    assert (name, version) == ("PolyculeFounded", 1)
    assert EVENTS.decode(name, version, data) == event


def test_old_versions_are_upcast_step_by_step_on_reading() -> None:
    registry = EventRegistry()

    @registry.register("BoundaryShared", version=3)
    class BoundaryShared(DomainEvent):
        member_id: uuid.UUID
        wording: str

    @registry.upcaster("BoundaryShared", from_version=1)
    def name_the_member(data: dict[str, object]) -> dict[str, object]:
        return {"member_id": data["who"], "text": data["text"]}

    @registry.upcaster("BoundaryShared", from_version=2)
    def rename_text(data: dict[str, object]) -> dict[str, object]:
        return {"member_id": data["member_id"], "wording": data["text"]}

    member = uuid.uuid4()
    event = registry.decode("BoundaryShared", 1, {"who": str(member), "text": "ask me first"})

    assert event == BoundaryShared(member_id=member, wording="ask me first")


def test_a_missing_upcaster_or_an_unknown_type_is_an_error() -> None:
    registry = EventRegistry()

    @registry.register("AgreementReviewed", version=2)
    class AgreementReviewed(DomainEvent):
        note: str

    with pytest.raises(UnknownEventType):
        registry.decode("AgreementReviewed", 1, {"note": "still fits"})
    with pytest.raises(UnknownEventType):
        registry.decode("NeverDeclared", 1, {})


def test_events_cannot_be_declared_twice_or_hold_floats() -> None:
    registry = EventRegistry()

    @registry.register("CheckInRecorded")
    class CheckInRecorded(DomainEvent):
        trust: int

    with pytest.raises(ValueError):
        registry.register("CheckInRecorded")(CheckInRecorded)
    with pytest.raises(TypeError):

        @registry.register("TrustFelt")
        class TrustFelt(DomainEvent):
            trust: float | None


def test_events_are_immutable() -> None:
    event = PolyculeFounded(polycule_id=uuid.uuid4(), founder_id=uuid.uuid4(), name="Pancakes")

    with pytest.raises(ValueError):
        event.founder_id = uuid.uuid4()  # type: ignore[misc]
