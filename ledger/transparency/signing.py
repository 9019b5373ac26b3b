"""The service's checkpoint key (Ed25519), kept out of the database, and what it signs.

A **checkpoint** says: the history of this polycule had this many events, and the Merkle
tree over them (ledger/store/merkle.py) had this root, at this moment. The signed bytes are
five lines of ASCII, each ended by a line feed (docs/verification.md is the reference)::

    polycule-ledger-checkpoint/v1
    <polycule id, lowercase with hyphens>
    <tree size, decimal>
    <root hash, 64 lowercase hex digits>
    <issued at: microseconds since 1970-01-01T00:00:00Z, decimal>

A member's device co-signs the same bytes behind the line ``polycule-ledger-cosignature/v1``,
so that a co-signature can never pass for the service's signature, nor the other way round.

The key comes from ``LEDGER_CHECKPOINT_KEY`` (base64 of the 32-byte Ed25519 private key),
or, for the embedded database only, ``<data_dir>/checkpoint.key``, made on first start.
The public keys of earlier keys stay published (``LEDGER_CHECKPOINT_RETIRED_KEYS``, or
``<data_dir>/checkpoint-retired.keys``, one base64 public key a line) so that checkpoints
signed before a rotation still verify; docs/verification.md says how to rotate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ledger.config import ConfigurationError

CHECKPOINT_KEY_VARIABLE = "LEDGER_CHECKPOINT_KEY"
RETIRED_KEYS_VARIABLE = "LEDGER_CHECKPOINT_RETIRED_KEYS"
CHECKPOINT_KEY_FILE = "checkpoint.key"
RETIRED_KEYS_FILE = "checkpoint-retired.keys"
CHECKPOINT_HEADER = b"polycule-ledger-checkpoint/v1\n"
COSIGNATURE_HEADER = b"polycule-ledger-cosignature/v1\n"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_GENERATE_HINT = "python -m ledger checkpoint-key new prints one"


class CheckpointKeyError(ConfigurationError):
    """The checkpoint key, or a published one, is missing or malformed."""


def key_id_of(public_key: bytes) -> str:
    """Names a key by its public half: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def epoch_microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def checkpoint_body(
    polycule_id: UUID, tree_size: int, root_hash: bytes, issued_at: datetime
) -> bytes:
    """The bytes the service signs (and a device co-signs behind its own header)."""
    issued_us = epoch_microseconds(issued_at)
    return CHECKPOINT_HEADER + (
        f"{polycule_id}\n{tree_size}\n{root_hash.hex()}\n{issued_us}\n".encode("ascii")
    )


def cosigned_bytes(body: bytes) -> bytes:
    return COSIGNATURE_HEADER + body


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 bytes; ValueError if they are not one."""
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def signature_holds(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        public_key_from_raw(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_key: bytes
    # "current": signs new checkpoints; "retired": only verifies those signed before.
    status: str


@dataclass(frozen=True, eq=False)
class CheckpointKeys:
    """The current signing key and every public key that checkpoints verify with."""

    signing: Ed25519PrivateKey = field(repr=False)
    retired: tuple[bytes, ...] = ()

    @property
    def public_key(self) -> bytes:
        return raw_public_key(self.signing.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def sign(self, body: bytes) -> bytes:
        return self.signing.sign(body)

    def published(self) -> list[PublishedKey]:
        current = PublishedKey(self.key_id, self.public_key, "current")
        return [current, *(
            PublishedKey(key_id_of(raw), raw, "retired")
            for raw in self.retired if raw != self.public_key
        )]

    def public_key_named(self, key_id: str) -> bytes | None:
        for key in self.published():
            if key.key_id == key_id:
                return key.public_key
        return None


def new_private_key_text() -> str:
    """A new key as LEDGER_CHECKPOINT_KEY takes it."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


def private_key_from_text(text: str, *, source: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointKeyError(f"{source}: not valid base64; {_GENERATE_HINT}") from None
    if len(raw) != 32:
        raise CheckpointKeyError(
            f"{source}: must be 32 bytes in base64, got {len(raw)} bytes; {_GENERATE_HINT}"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_keys_from_text(text: str, *, source: str) -> tuple[bytes, ...]:
    """Base64 public keys, separated by commas, spaces or lines."""
    keys = []
    for item in text.replace(",", " ").split():
        try:
            raw = base64.b64decode(item, validate=True)
            public_key_from_raw(raw)
        except (binascii.Error, ValueError):
            raise CheckpointKeyError(
                f"{source}: {item[:12]}… is not an Ed25519 public key in base64"
            ) from None
        keys.append(raw)
    return tuple(keys)


def load_checkpoint_keys(
    configured: str | None,
    retired: str | None,
    *,
    data_dir: Path,
    allow_key_file: bool,
) -> CheckpointKeys:
    """The key from LEDGER_CHECKPOINT_KEY, else (embedded database only) a key file."""
    if configured is not None and configured.strip():
        signing = private_key_from_text(configured, source=CHECKPOINT_KEY_VARIABLE)
        published = public_keys_from_text(retired or "", source=RETIRED_KEYS_VARIABLE)
        return CheckpointKeys(signing, published)
    if not allow_key_file:
        raise CheckpointKeyError(
            f"{CHECKPOINT_KEY_VARIABLE} is required when DATABASE_URL is set (every instance "
            f"must sign with the same key); {_GENERATE_HINT}"
        )
    path = data_dir / CHECKPOINT_KEY_FILE
    if not path.exists():
        write_key_file(path, new_private_key_text())
    if path.stat().st_mode & 0o077:
        raise CheckpointKeyError(f"{path} can be read by other users; run: chmod 600 {path}")
    signing = private_key_from_text(path.read_text("ascii", errors="replace"), source=str(path))
    retired_path = data_dir / RETIRED_KEYS_FILE
    published = public_keys_from_text(
        retired_path.read_text("ascii", errors="replace") if retired_path.exists() else "",
        source=str(retired_path),
    )
    return CheckpointKeys(signing, published)


def write_key_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write a key (mode 0600); two processes starting together end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(text + "\n")
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
            return
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another process made
        except FileExistsError:
            return
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def rotate_key_files(data_dir: Path) -> CheckpointKeys:
    """The embedded set-up's rotation: the current key's public half joins the retired
    keys (still published), and a new key signs from the next start on."""
    current = load_checkpoint_keys(None, None, data_dir=data_dir, allow_key_file=True)
    retired_path = data_dir / RETIRED_KEYS_FILE
    kept = [base64.b64encode(raw).decode("ascii") for raw in current.retired]
    kept.append(base64.b64encode(current.public_key).decode("ascii"))
    write_key_file(retired_path, "\n".join(kept), replace=True)
    os.chmod(retired_path, 0o644)  # public keys: anyone may read them
    write_key_file(data_dir / CHECKPOINT_KEY_FILE, new_private_key_text(), replace=True)
    return load_checkpoint_keys(None, None, data_dir=data_dir, allow_key_file=True)
