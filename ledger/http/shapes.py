"""What every view shares for the shapes it reads and writes: strict pydantic models in,
JSON out; and the one way a read model's row becomes the view a reader is shown.

A view is built from its row by pydantic (``model_validate(..., from_attributes=True)``):
the fields they share are named once, in each, and copied by no hand. What differs is only
the words: a row keeps them sealed, as the events had them (``Sealed``,
ledger/text_marks.py), and ``opened`` opens every sealed field the view shows — in the rows
a row holds, too — for the reader the policy let at it, before pydantic copies the rest.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from ledger.privacy import KeyRing, opened_words
from ledger.text_marks import keeps_sealed

ViewT = TypeVar("ViewT", bound=BaseModel)


class Strict(BaseModel):
    """A request or response body: unknown fields are refused, nothing is mutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Nothing(Strict):
    """An empty JSON object: the body of an action that needs no words."""


def json_of(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def json_of_many(models: Sequence[BaseModel]) -> web.Response:
    # Each model writes its own JSON (pydantic's serializer, as json_of uses): no detour
    # through Python dicts and the standard library's encoder.
    return web.json_response(
        text="[" + ",".join(model.model_dump_json() for model in models) + "]"
    )


# --- From a read model's row to its view -----------------------------------------------


async def opened(view: type[ViewT], row: object, keyring: KeyRing, **shown: Any) -> ViewT:
    """``row`` as ``view`` shows it to a reader the policy let at it: the fields they share
    copied by pydantic, every sealed one among them opened (or ``[erased]`` once its
    author's key is gone), in the rows ``row`` holds too; and ``shown`` for the fields the
    view adds or shows otherwise. Only what the view shows is opened."""
    readable = await _readable(row, _plan(type(row), view), keyring, shown)
    return view.model_validate(readable, from_attributes=True)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What opening a row of one type for one view takes, worked out once per pair: the
    view's fields the row has (its fields and properties), which of them keep sealed words,
    and which hold rows of their own with words to open."""

    shared: tuple[str, ...]
    sealed: tuple[str, ...]
    nested: tuple[tuple[str, _Plan], ...]

    @property
    def opens(self) -> bool:
        return bool(self.sealed or self.nested)


_PLANS: dict[tuple[type, type[BaseModel]], _Plan] = {}


def _plan(row_type: type, view: type[BaseModel]) -> _Plan:
    plan = _PLANS.get((row_type, view))
    if plan is None:
        plan = _PLANS[row_type, view] = _plan_of(row_type, view)
    return plan


def _plan_of(row_type: type, view: type[BaseModel]) -> _Plan:
    hints = typing.get_type_hints(row_type, include_extras=True)
    shared: list[str] = []
    sealed: list[str] = []
    nested: list[tuple[str, _Plan]] = []
    for name, field in view.model_fields.items():
        if name in hints or isinstance(getattr(row_type, name, None), property):
            shared.append(name)
        hint = hints.get(name)
        if hint is None:
            continue
        if keeps_sealed(hint):
            sealed.append(name)
            continue
        inner_row, inner_view = _row_type_in(hint), _view_in(field.annotation)
        if inner_row is not None and inner_view is not None:
            inner = _plan(inner_row, inner_view)
            if inner.opens:
                nested.append((name, inner))
    return _Plan(tuple(shared), tuple(sealed), tuple(nested))


def _row_type_in(hint: object) -> type | None:
    """The row type a field holds: itself, or in a tuple or an optional."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    return next(filter(None, map(_row_type_in, typing.get_args(hint))), None)


def _view_in(annotation: object) -> type[BaseModel] | None:
    """The view a field shows: itself, or in a list or an optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_view_in, typing.get_args(annotation))), None)


async def _readable(
    row: object, plan: _Plan, keyring: KeyRing, shown: Mapping[str, Any]
) -> object:
    """The row itself when it has nothing to open (pydantic reads its attributes), else
    the view's fields of it, with its words opened."""
    if not (plan.opens or shown):
        return row
    fields = {name: getattr(row, name) for name in plan.shared}
    for name in plan.sealed:
        if name not in shown:
            fields[name] = await opened_words(fields[name], keyring)
    for name, inner in plan.nested:
        if name in shown:
            continue
        value = fields[name]
        if isinstance(value, tuple | list):
            fields[name] = [await _readable(item, inner, keyring, {}) for item in value]
        elif value is not None:
            fields[name] = await _readable(value, inner, keyring, {})
    fields.update(shown)
    return fields
