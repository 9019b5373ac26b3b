"""Sealing text under a data key, wrapping data keys under the master key, loading that key.

No database here: the key ring and erasure are in tests/integration/test_privacy.py.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.config import ConfigurationError
from ledger.privacy import (
    DataKey,
    KeyOwner,
    MasterKey,
    MasterKeyError,
    SealBroken,
    SealedText,
    as_sealed,
    load_master_key,
)

ALICE = KeyOwner("member", uuid.uuid4())
BOB = KeyOwner("member", uuid.uuid4())


def data_key(owner: KeyOwner = ALICE) -> DataKey:
    return DataKey(uuid.uuid4(), owner, os.urandom(32))


def valid_base64_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


# -- sealing ------------------------------------------------------------------------------


def test_a_sealed_text_opens_under_its_key() -> None:
    key = data_key()

    sealed = key.seal("I felt unseen on Tuesday")

    assert key.open(sealed) == "I felt unseen on Tuesday"
    assert sealed["sealed"] == "v1"
    assert sealed["key"] == str(key.key_id)
    assert len(base64.b64decode(sealed["nonce"])) == 12


def test_the_stored_form_is_plain_json_without_numbers() -> None:
    sealed = data_key().seal("note")

    assert json.loads(json.dumps(sealed)) == sealed
    assert all(isinstance(part, str) for part in sealed.values())
    assert as_sealed(dict(sealed)) == sealed


def test_sealing_the_same_text_twice_gives_different_ciphertexts() -> None:
    key = data_key()

    assert key.seal("same words")["ct"] != key.seal("same words")["ct"]


def test_another_members_key_cannot_open_it() -> None:
    sealed = data_key(ALICE).seal("Alice's words")
    bobs_key = data_key(BOB)

    with pytest.raises(SealBroken):
        bobs_key.open(sealed)
    # Relabelled to name Bob's key, it still does not open under Bob's key.
    with pytest.raises(SealBroken):
        bobs_key.open({**sealed, "key": str(bobs_key.key_id)})


def test_the_key_id_is_bound_to_the_ciphertext() -> None:
    alices_key = data_key(ALICE)
    sealed = alices_key.seal("Alice's words")
    # The same secret filed under another id (a swapped or copied key row) opens nothing.
    same_secret_other_id = DataKey(uuid.uuid4(), ALICE, alices_key.secret)

    with pytest.raises(SealBroken):
        same_secret_other_id.open({**sealed, "key": str(same_secret_other_id.key_id)})


@pytest.mark.parametrize("part", ["ct", "nonce"])
def test_an_altered_ciphertext_or_nonce_does_not_open(part: str) -> None:
    key = data_key()
    sealed = key.seal("what happened that night")
    raw = bytearray(base64.b64decode(sealed[part]))  # type: ignore[literal-required]
    raw[0] ^= 1
    altered: SealedText = {**sealed, part: base64.b64encode(bytes(raw)).decode()}  # type: ignore[misc]

    with pytest.raises(SealBroken):
        key.open(altered)


def test_a_truncated_ciphertext_does_not_open() -> None:
    key = data_key()
    sealed = key.seal("what happened that night")

    with pytest.raises(SealBroken):
        key.open({**sealed, "ct": sealed["ct"][:8]})


@pytest.mark.parametrize(
    "value",
    [
        "plain text",
        None,
        {"sealed": "v2", "key": "k", "nonce": "n", "ct": "c"},
        {"sealed": "v1", "key": "k", "nonce": "n"},
        {"sealed": "v1", "key": "k", "nonce": "n", "ct": "c", "extra": "x"},
        {"sealed": "v1", "key": "k", "nonce": "n", "ct": 1},
    ],
)
def test_only_the_exact_sealed_shape_counts_as_sealed(value: object) -> None:
    assert as_sealed(value) is None


# The shared key makes Hypothesis's examples cheap; each example still seals afresh.
PROPERTY_KEY = data_key()


@given(st.text())
def test_any_text_round_trips(text: str) -> None:
    assert PROPERTY_KEY.open(PROPERTY_KEY.seal(text)) == text


@given(st.text(min_size=6))
def test_a_sealed_value_never_contains_the_plaintext(text: str) -> None:
    sealed = PROPERTY_KEY.seal(text)
    stored = json.dumps(sealed, ensure_ascii=False)
    skeleton = json.dumps({**sealed, "nonce": "", "ct": ""}, ensure_ascii=False)
    if text in skeleton:  # e.g. the text '"sealed"' is the envelope's own wording
        return

    assert text not in stored
    assert text.encode() not in base64.b64decode(sealed["ct"])


# -- the master key -----------------------------------------------------------------------


def test_the_master_key_wraps_a_data_key_for_its_own_row_only() -> None:
    master = MasterKey.generate()
    secret, key_id = os.urandom(32), uuid.uuid4()

    wrapped = master.wrap(secret, key_id, ALICE)

    assert len(wrapped) == 12 + 32 + 16
    assert master.unwrap(wrapped, key_id, ALICE) == secret
    with pytest.raises(SealBroken):
        master.unwrap(wrapped, key_id, BOB)
    with pytest.raises(SealBroken):
        master.unwrap(wrapped, uuid.uuid4(), ALICE)
    with pytest.raises(SealBroken):
        MasterKey.generate().unwrap(wrapped, key_id, ALICE)


def test_the_fingerprint_names_a_master_key_without_revealing_it() -> None:
    master = MasterKey.generate()

    assert master.fingerprint == MasterKey(master.secret).fingerprint
    assert master.fingerprint != MasterKey.generate().fingerprint
    assert master.to_base64() not in repr(master)
    assert master.fingerprint not in master.to_base64()


def test_a_configured_master_key_is_read_from_base64(tmp_path: Path) -> None:
    configured = valid_base64_key()

    master = load_master_key(f"  {configured}\n", data_dir=tmp_path, allow_key_file=False)

    assert master.to_base64() == configured
    assert not (tmp_path / "master.key").exists()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64 at all!", "not valid base64"),
        ("c2hvcnQ=", "must be 32 bytes"),  # b"short"
        (base64.b64encode(os.urandom(48)).decode(), "must be 32 bytes"),
        (base64.b64encode(os.urandom(32)).decode()[:-2], "not valid base64"),
    ],
)
def test_a_malformed_master_key_stops_the_start_naming_the_variable(
    value: str, problem: str, tmp_path: Path
) -> None:
    with pytest.raises(MasterKeyError) as raised:
        load_master_key(value, data_dir=tmp_path, allow_key_file=True)

    message = str(raised.value)
    assert message.startswith("LEDGER_MASTER_KEY: ")
    assert problem in message
    assert "os.urandom(32)" in message  # says how to make a good one
    assert value not in message  # never echoes a secret, even a broken one
    assert isinstance(raised.value, ConfigurationError)  # the CLI reports those cleanly


def test_with_a_configured_database_the_master_key_must_be_configured(tmp_path: Path) -> None:
    for configured in (None, "", "   "):
        with pytest.raises(MasterKeyError, match="LEDGER_MASTER_KEY is required"):
            load_master_key(configured, data_dir=tmp_path, allow_key_file=False)
    assert not (tmp_path / "master.key").exists()


def test_the_embedded_default_makes_a_private_key_file_once_and_keeps_it(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "not-yet-there"

    first = load_master_key(None, data_dir=data_dir, allow_key_file=True)
    again = load_master_key(None, data_dir=data_dir, allow_key_file=True)

    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first.to_base64()
    assert again.secret == first.secret
    assert [path.name for path in data_dir.iterdir()] == ["master.key"]  # no temporary left


def test_the_configured_key_wins_over_the_key_file(tmp_path: Path) -> None:
    from_file = load_master_key(None, data_dir=tmp_path, allow_key_file=True)
    configured = valid_base64_key()

    master = load_master_key(configured, data_dir=tmp_path, allow_key_file=True)

    assert master.to_base64() == configured != from_file.to_base64()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    load_master_key(None, data_dir=tmp_path, allow_key_file=True)
    (tmp_path / "master.key").chmod(0o644)

    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(None, data_dir=tmp_path, allow_key_file=True)


def test_a_damaged_key_file_is_named(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(b"\xff\xfe garbage")
    key_file.chmod(0o600)

    with pytest.raises(MasterKeyError, match=str(key_file)):
        load_master_key(None, data_dir=tmp_path, allow_key_file=True)
