"""Every domain event type, declared once: frozen pydantic models in one registry.

An event is a fact, named in the past tense as a member would say it. Its published
meaning never changes: when its shape must change, the model gets a new ``schema_version``
and an upcaster turns stored data of the older version into the newer shape on reading.
Event data never holds floats (see ledger/store/chain.py: the hash chain needs numbers to
read back exactly as written).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

JsonObject = dict[str, Any]


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


EventT = TypeVar("EventT", bound=type[DomainEvent])


class StoredShape(Protocol):
    """An event as the store keeps it (a dataclass, e.g. ledger.store.records.RecordedEvent)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def event_type(self) -> str: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def data(self) -> JsonObject: ...


Stored = TypeVar("Stored", bound=StoredShape)
Upcaster = Callable[[JsonObject], JsonObject]


class UnknownEventType(LookupError):
    pass


def _mentions_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_mentions_float(argument) for argument in typing.get_args(annotation))


class EventRegistry:
    """Maps stored (type, schema version, data) to event models and back."""

    def __init__(self) -> None:
        self._types: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, name: str, *, version: int = 1) -> Callable[[EventT], EventT]:
        """Class decorator: declare an event type under its stored name."""

        def decorate(model: EventT) -> EventT:
            if name in self._types:
                raise ValueError(f"event type {name} is declared twice")
            fields = typing.cast(type[DomainEvent], model).model_fields
            for field_name, field in fields.items():
                if _mentions_float(field.annotation):
                    raise TypeError(f"{name}.{field_name}: event data cannot hold floats")
            model.event_type = name
            model.schema_version = version
            self._types[name] = model
            return model

        return decorate

    def upcaster(self, name: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Declare how data of ``name`` at ``from_version`` becomes ``from_version + 1``."""

        def decorate(function: Upcaster) -> Upcaster:
            self._upcasters[(name, from_version)] = function
            return function

        return decorate

    def names(self) -> list[str]:
        return list(self._types)

    def model_of(self, name: str) -> type[DomainEvent]:
        model = self._types.get(name)
        if model is None:
            raise UnknownEventType(f"no event type named {name}")
        return model

    def encode(self, event: DomainEvent) -> tuple[str, int, JsonObject]:
        return event.event_type, event.schema_version, event.model_dump(mode="json")

    def decode(self, name: str, schema_version: int, data: JsonObject) -> DomainEvent:
        model = self.model_of(name)
        return model.model_validate(self._upcast(model, name, schema_version, data))

    def in_current_shape(self, event: Stored) -> Stored:
        """The stored event with its data upcast to its type's current schema version, still
        as stored (sealed texts stay sealed): what read models and the webhook fan-out read,
        so that they, like the deciders, only ever know an event's current shape. An event
        of a type no longer declared is left as it is (nothing reads it)."""
        model = self._types.get(event.event_type)
        if model is None or event.schema_version >= model.schema_version:
            return event
        data = self._upcast(model, event.event_type, event.schema_version, event.data)
        return dataclasses.replace(event, schema_version=model.schema_version, data=data)

    def _upcast(
        self, model: type[DomainEvent], name: str, schema_version: int, data: JsonObject
    ) -> JsonObject:
        version = schema_version
        while version < model.schema_version:
            upcast = self._upcasters.get((name, version))
            if upcast is None:
                raise UnknownEventType(f"{name} v{version} has no upcaster to v{version + 1}")
            data = upcast(data)
            version += 1
        return data


# The registry of the ledger's events; domain modules declare their events into it.
EVENTS = EventRegistry()
