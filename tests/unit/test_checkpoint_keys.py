"""The checkpoint key: where it comes from, what a malformed one says, how it rotates."""

from __future__ import annotations

import base64
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.config import ConfigurationError
from ledger.transparency.signing import (
    CheckpointKeyError,
    checkpoint_body,
    load_checkpoint_keys,
    new_private_key_text,
    rotate_key_files,
    signature_holds,
)


def test_a_configured_key_signs_and_its_retired_keys_are_published(tmp_path: Path) -> None:
    old = load_checkpoint_keys(new_private_key_text(), None, data_dir=tmp_path,
                               allow_key_file=False)
    retired = base64.b64encode(old.public_key).decode()

    keys = load_checkpoint_keys(new_private_key_text(), f" {retired}\n", data_dir=tmp_path,
                                allow_key_file=False)

    assert [(key.public_key, key.status) for key in keys.published()] == [
        (keys.public_key, "current"), (old.public_key, "retired"),
    ]
    assert keys.public_key_named(old.key_id) == old.public_key
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("key", "retired", "variable"), [
    ("not base64!", "", "LEDGER_CHECKPOINT_KEY"),
    (base64.b64encode(b"short").decode(), "", "LEDGER_CHECKPOINT_KEY"),
    (new_private_key_text(), "bm90IGEga2V5", "LEDGER_CHECKPOINT_RETIRED_KEYS"),
])
def test_a_malformed_key_stops_the_start_naming_the_variable(
    key: str, retired: str, variable: str, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointKeyError) as raised:
        load_checkpoint_keys(key, retired, data_dir=tmp_path, allow_key_file=False)
    assert str(raised.value).startswith(f"{variable}: ")
    assert key not in str(raised.value)  # a secret is never echoed
    assert isinstance(raised.value, ConfigurationError)


def test_with_a_configured_database_the_key_must_be_configured(tmp_path: Path) -> None:
    with pytest.raises(CheckpointKeyError, match="LEDGER_CHECKPOINT_KEY is required"):
        load_checkpoint_keys(None, None, data_dir=tmp_path, allow_key_file=False)


def test_the_embedded_default_keeps_a_private_key_file(tmp_path: Path) -> None:
    first = load_checkpoint_keys(None, None, data_dir=tmp_path, allow_key_file=True)
    again = load_checkpoint_keys(None, None, data_dir=tmp_path, allow_key_file=True)

    assert again.public_key == first.public_key
    assert stat.S_IMODE((tmp_path / "checkpoint.key").stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["checkpoint.key"]


def test_after_a_rotation_old_and_new_checkpoints_verify_with_the_published_keys(
    tmp_path: Path,
) -> None:
    before = load_checkpoint_keys(None, None, data_dir=tmp_path, allow_key_file=True)
    body = checkpoint_body(uuid.uuid4(), 3, bytes(32), datetime.now(UTC))
    old_signature = before.sign(body)

    after = rotate_key_files(tmp_path)
    new_signature = after.sign(body)

    assert after.key_id != before.key_id
    published = {key.key_id: key.public_key for key in after.published()}
    assert signature_holds(published[before.key_id], old_signature, body)
    assert signature_holds(published[after.key_id], new_signature, body)
    # A signature is over its own bytes only, and only the key that made it checks it.
    assert not signature_holds(published[after.key_id], old_signature, body)
    assert not signature_holds(published[before.key_id], old_signature, body + b"x")
    assert load_checkpoint_keys(None, None, data_dir=tmp_path,
                                allow_key_file=True).key_id == after.key_id
