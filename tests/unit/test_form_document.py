"""A posted form becomes the JSON document the API's models read: ``name[]`` a list,
``a.b`` nested, empty fields left out, the form's own fields dropped, a date-and-time field
(``name@local``) read in the form's zone."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy

from ledger.errors import InvalidInput
from ledger.http.parsing import form_document

names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
    lambda name: name not in {"csrf_token", "return_to", "answer", "local_zone"}
)
filled = st.text(min_size=1, max_size=20).filter(str.strip)


def posted(items: list[tuple[str, str]]) -> MultiDictProxy[str]:
    return MultiDictProxy(MultiDict(items))


@given(st.dictionaries(names, filled, max_size=6))
def test_single_fields_are_taken_as_they_are(fields: dict[str, str]) -> None:
    assert form_document(posted(list(fields.items()))) == fields


@given(names, st.lists(st.text(max_size=10), min_size=1, max_size=6))
def test_a_list_field_collects_every_filled_value_in_order(
    name: str, values: list[str]
) -> None:
    document = form_document(posted([(f"{name}[]", value) for value in values]))

    assert document == {name: [value for value in values if value.strip()]}


# A definition's word, the name of a nested field, may hold dots of its own ("p.m.").
words = st.text(string.ascii_lowercase + ".", min_size=1, max_size=12)


@given(names, st.dictionaries(words, filled, min_size=1, max_size=5))
def test_a_dotted_field_nests_one_level(parent: str, children: dict[str, str]) -> None:
    items = [(f"{parent}.{child}", value) for child, value in children.items()]

    assert form_document(posted(items)) == {parent: children}


@given(st.dictionaries(names, st.sampled_from(["", " ", "\t\n"]), max_size=5))
def test_empty_fields_are_left_out_so_the_models_defaults_apply(
    fields: dict[str, str],
) -> None:
    assert form_document(posted(list(fields.items()))) == {}


@given(filled, filled, filled)
def test_the_forms_own_fields_are_not_part_of_the_document(
    token: str, return_to: str, answer: str
) -> None:
    items = [("csrf_token", token), ("return_to", return_to), ("answer", answer),
             ("title", "Sundays")]

    assert form_document(posted(items)) == {"title": "Sundays"}


@pytest.mark.parametrize("items", [
    [("definitions", "x"), ("definitions.date", "an evening")],
    [("definitions.date", "an evening"), ("definitions", "x")],
])
def test_a_field_cannot_be_both_a_value_and_a_group(items: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidInput):
        form_document(posted(items))


def test_a_date_and_time_field_is_read_in_the_forms_zone_and_stands_over_the_default() -> None:
    document = form_document(posted([
        ("happened_at", "2026-12-01T08:00:00+00:00"),
        ("happened_at@local", "2026-12-01T09:30"), ("local_zone", "Asia/Tokyo"),
    ]))

    assert document == {"happened_at": "2026-12-01T09:30:00+09:00"}


def test_a_date_and_time_field_left_empty_leaves_the_default_and_needs_no_zone() -> None:
    document = form_document(posted([
        ("happened_at@local", ""), ("happened_at", "2026-12-01T08:00:00+00:00"),
    ]))

    assert document == {"happened_at": "2026-12-01T08:00:00+00:00"}


@pytest.mark.parametrize("typed", ["last night", "2026-02-30T10:00", "10:00"])
def test_what_is_not_a_day_and_time_is_left_for_the_model_to_refuse(typed: str) -> None:
    assert form_document(posted([("at@local", typed)])) == {"at": typed}


def test_a_zone_nobody_knows_is_refused() -> None:
    with pytest.raises(InvalidInput):
        form_document(posted([("at@local", "2026-12-01T09:30"), ("local_zone", "Mars/Olympus")]))
