"""The hash chain, without a database: encoding, linking and finding the first break."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ledger.store.chain import (
    GENESIS_HASH,
    canonical_encoding,
    encode_json,
    encode_row,
    epoch_microseconds,
    first_break,
    link,
)

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), texts
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)
    ),
    max_leaves=10,
)
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@dataclass(frozen=True)
class Row:
    stream_id: uuid.UUID
    stream_version: int
    position: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: Any
    metadata: Any
    recorded_at: datetime
    previous_hash: bytes
    hash: bytes


def chain_of(payloads: list[Any], when: datetime) -> list[Row]:
    stream = uuid.uuid4()
    rows, previous = [], GENESIS_HASH
    for version, payload in enumerate(payloads, start=1):
        row = Row(stream, version, version * 10, uuid.uuid4(), "ConsentGiven", 1,
                  {"payload": payload}, {"actor": "m"}, when, previous, b"")
        row = replace(row, hash=link(previous, encode_row(row)))
        rows.append(row)
        previous = row.hash
    return rows


@given(data=json_values, metadata=st.dictionaries(texts, json_values), at=moments,
       version=st.integers(min_value=1, max_value=2**62), event_type=texts)
def test_the_encoding_is_sorted_compact_json_that_reads_back_as_the_event(
    data: Any, metadata: dict[str, Any], at: datetime, version: int, event_type: str
) -> None:
    stream, event = uuid.uuid4(), uuid.uuid4()

    encoded = canonical_encoding(
        stream_id=stream, stream_version=version, event_id=event, event_type=event_type,
        schema_version=2, data=data, metadata=metadata, recorded_at=at,
    )

    document = json.loads(encoded)
    assert document == {
        "data": data, "event_id": str(event), "event_type": event_type, "metadata": metadata,
        "recorded_at_us": epoch_microseconds(at), "schema_version": 2,
        "stream_id": str(stream), "stream_version": version,
    }
    assert encoded.decode() == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert encode_json(data) == json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_the_recorded_time_encodes_the_same_instant_the_same_way_in_any_zone() -> None:
    instant = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)
    elsewhere = instant.astimezone(timezone(timedelta(hours=-5)))

    assert epoch_microseconds(instant) == epoch_microseconds(elsewhere) == 1795435200123456


@given(payloads=st.lists(json_values, min_size=1, max_size=8), at=moments)
def test_an_honest_chain_has_no_break(payloads: list[Any], at: datetime) -> None:
    assert first_break(chain_of(payloads, at)) is None


@given(
    payloads=st.lists(json_values, min_size=2, max_size=8),
    at=moments,
    choice=st.data(),
)
def test_altering_any_event_breaks_the_chain_at_that_event(
    payloads: list[Any], at: datetime, choice: st.DataObject
) -> None:
    rows = chain_of(payloads, at)
    index = choice.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    field = choice.draw(st.sampled_from(["data", "metadata", "recorded_at", "event_type"]))
    altered_value = {
        "data": {"payload": "something else", "was": encode_json(rows[index].data)},
        "metadata": {"actor": "someone else"},
        "recorded_at": rows[index].recorded_at + timedelta(microseconds=1),
        "event_type": "ConsentWithdrawn",
    }[field]
    rows[index] = replace(rows[index], **{field: altered_value})

    found = first_break(rows)

    assert found is not None
    assert found.event_id == rows[index].event_id
    assert found.stream_version == index + 1


@given(payloads=st.lists(json_values, min_size=3, max_size=8), at=moments, choice=st.data())
def test_a_missing_event_is_named_by_the_one_after_it(
    payloads: list[Any], at: datetime, choice: st.DataObject
) -> None:
    rows = chain_of(payloads, at)
    index = choice.draw(st.integers(min_value=0, max_value=len(rows) - 2))
    after = rows[index + 1]
    del rows[index]

    found = first_break(rows)

    assert found is not None
    assert found.event_id == after.event_id
