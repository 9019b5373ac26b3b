"""The single-file verifier computes what the service computes: it must stand alone (the
standard library and cryptography), so it holds its own copy of the chain's encoding and
of the tree's hashing, and these properties keep the copies the same."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ledger import verify_export
from ledger.http.audit_routes import AuditEntry
from ledger.store import merkle
from ledger.store.chain import canonical_encoding
from tests.unit.test_chain import json_values, moments, texts

digests = st.lists(st.binary(min_size=32, max_size=32), max_size=70, unique=True)


@given(digests)
def test_both_give_the_same_root(entries: list[bytes]) -> None:
    leaves = merkle.leaf_hashes(entries)
    assert [verify_export.leaf_hash(entry) for entry in entries] == leaves
    assert verify_export.merkle_root(leaves) == merkle.root(leaves)


@given(digests.filter(len), st.data())
def test_both_judge_a_consistency_proof_alike(entries: list[bytes], data: st.DataObject) -> None:
    leaves = merkle.leaf_hashes(entries)
    second = data.draw(st.integers(1, len(leaves)))
    first = data.draw(st.integers(0, second))
    proof = merkle.consistency_proof(leaves, first, second)
    roots = merkle.root(leaves[:first]), merkle.root(leaves[:second])
    other = data.draw(st.binary(min_size=32, max_size=32))
    for claim in ((first, second, *roots), (first, second, other, roots[1]),
                  (first, second, roots[0], other), (first, max(second - 1, 0), *roots)):
        assert verify_export.verify_consistency(*claim, proof) == merkle.verify_consistency(
            *claim, proof
        )


@given(json_values, json_values, texts, moments, st.integers(1, 2**40))
def test_both_encode_an_exported_event_alike(
    data: Any, metadata: Any, event_type: str, recorded_at: datetime, version: int
) -> None:
    stream_id, event_id = uuid.uuid4(), uuid.uuid4()
    stored = {"value": data}
    meta = {"value": metadata}
    entry = AuditEntry(
        stream_version=version, recorded_at=recorded_at, previous_hash="00", hash="00",
        readable=True, event_id=event_id, event_type=event_type, schema_version=1,
        data={}, stored_data=stored, metadata=meta,
    )
    exported = orjson.loads(entry.model_dump_json())

    assert verify_export.canonical_encoding(str(stream_id), exported) == canonical_encoding(
        stream_id=stream_id, stream_version=version, event_id=event_id, event_type=event_type,
        schema_version=1, data=stored, metadata=meta, recorded_at=recorded_at,
    )
