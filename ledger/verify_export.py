"""Check a polycule's exported record on your own computer, without the service.

    python verify_export.py polycule-….jsonl [--checkpoint OLD.json] [--keys KEYS.json]

This one file needs Python 3.11 and the ``cryptography`` package, nothing else; download
it from the service (``/verify_export.py``) or take it from the ledger's source
(``ledger/verify_export.py``). It recomputes every link of the hash chain (in full for the
entries you may read, the links alone for the others), the Merkle tree over every entry's
hash, and checks the service's signature on the export's checkpoint and every member's
co-signature. Given a checkpoint you kept from before (``--checkpoint``, as the service or
the record page gave it), it checks that the history it describes is the beginning of
this one: that nothing you saw then was rewritten or taken out since. ``--keys`` names the
service's published keys as you fetched them yourself (``/.well-known/ledger-checkpoint-keys``):
without it, the keys the export carries are believed.

docs/verification.md states every encoding this file computes. Exit status: 0 when
everything holds, 1 when something does not (each failure is printed), 2 when the files
cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EXPORT_FORMAT = "polycule-ledger-export/v1"
CHECKPOINT_HEADER = "polycule-ledger-checkpoint/v1"
COSIGNATURE_HEADER = "polycule-ledger-cosignature/v1"
GENESIS_HASH = bytes(32)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# -- the hash chain (ledger/store/chain.py computes the same) ---------------------------


def epoch_microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def canonical_encoding(stream_id: str, entry: dict[str, Any]) -> bytes:
    """The bytes an event's hash is taken over, after the previous event's hash."""
    recorded_at = datetime.fromisoformat(entry["recorded_at"])
    event = {
        "data": entry["stored_data"],
        "event_id": entry["event_id"],
        "event_type": entry["event_type"],
        "metadata": entry["metadata"],
        "recorded_at_us": epoch_microseconds(recorded_at),
        "schema_version": entry["schema_version"],
        "stream_id": stream_id,
        "stream_version": entry["stream_version"],
    }
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def link(previous_hash: bytes, encoded_event: bytes) -> bytes:
    return hashlib.sha256(previous_hash + encoded_event).digest()


# -- the Merkle tree, RFC 9162 (ledger/store/merkle.py computes the same) ----------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The tree hash over leaf hashes; an unpaired node is carried up a level as it is."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: the tree of ``first`` leaves is a prefix of that of ``second``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not path
    if not path:
        return False
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_result = second_result = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first_result = node_hash(node, first_result)
            second_result = node_hash(node, second_result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_result = node_hash(second_result, node)
        fn >>= 1
        sn >>= 1
    return (
        sn == 0
        and hmac.compare_digest(first_result, first_root)
        and hmac.compare_digest(second_result, second_root)
    )


# -- checkpoints and their signatures ----------------------------------------------------


def checkpoint_text(polycule_id: str, tree_size: int, root_hash: str, issued_at_us: int) -> str:
    return f"{CHECKPOINT_HEADER}\n{polycule_id}\n{tree_size}\n{root_hash}\n{issued_at_us}\n"


def signature_holds(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_checkpoint(
    checkpoint: dict[str, Any], keys: dict[str, bytes], report: Report, *, name: str
) -> bool:
    """The checkpoint's text is what its fields say, and a trusted key signed it."""
    try:
        expected = checkpoint_text(
            str(checkpoint["polycule_id"]), int(checkpoint["tree_size"]),
            str(checkpoint["root_hash"]), int(checkpoint["issued_at_us"]),
        )
        signature = _b64(checkpoint["signature"])
        key_id = str(checkpoint["key_id"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        report.fail(f"{name}: not a checkpoint (a field is missing or malformed)")
        return False
    if checkpoint.get("signed_text", expected) != expected:
        report.fail(f"{name}: its signed text does not say what its fields say")
        return False
    if key_id not in keys:
        report.fail(f"{name}: signed by key {key_id}, which is not among the trusted keys")
        return False
    if not signature_holds(keys[key_id], signature, expected.encode("ascii")):
        report.fail(f"{name}: the service's signature does not verify (forged or altered)")
        return False
    good = 0
    for cosignature in checkpoint.get("cosignatures", []):
        message = f"{COSIGNATURE_HEADER}\n{expected}".encode("ascii")
        try:
            holds = signature_holds(
                _b64(cosignature["public_key"]), _b64(cosignature["signature"]), message
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            holds = False
        if not holds:
            report.fail(f"{name}: a co-signature does not verify")
            return False
        good += 1
    report.notes.append(
        f"{name}: {checkpoint['tree_size']} entries, root {checkpoint['root_hash'][:16]}…, "
        f"signed by key {key_id}, co-signed by {good} device(s)"
    )
    return True


@dataclass
class Export:
    stream_id: str
    keys: dict[str, bytes]
    entries: list[dict[str, Any]]
    checkpoint: dict[str, Any]


def read_export(path: Path) -> Export:
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    if len(lines) < 2 or lines[0].get("format") != EXPORT_FORMAT or "checkpoint" not in lines[-1]:
        raise ValueError(f"{path} is not a {EXPORT_FORMAT} export")
    header = lines[0]
    keys = {str(key["key_id"]): _b64(key["public_key"]) for key in header["checkpoint_keys"]}
    return Export(str(header["stream_id"]), keys, lines[1:-1], lines[-1]["checkpoint"])


def read_keys(path: Path) -> dict[str, bytes]:
    """Keys as /.well-known/ledger-checkpoint-keys gives them."""
    document = json.loads(path.read_text("utf-8"))
    return {str(key["key_id"]): _b64(key["public_key"]) for key in document["keys"]}


def verify(export: Export, trusted: dict[str, bytes], kept: dict[str, Any] | None) -> Report:
    report = Report()
    previous = GENESIS_HASH
    hashes: list[bytes] = []
    opaque = 0
    for expected_version, entry in enumerate(export.entries, start=1):
        where = f"entry {entry.get('stream_version')}"
        if entry.get("stream_version") != expected_version:
            report.fail(f"{where}: expected entry {expected_version} (one is missing)")
            break
        stored = bytes.fromhex(entry["hash"])
        if bytes.fromhex(entry["previous_hash"]) != previous:
            report.fail(f"{where}: does not link to the hash of the entry before it")
            break
        if entry.get("readable"):
            if link(previous, canonical_encoding(export.stream_id, entry)) != stored:
                report.fail(f"{where}: its contents do not match its hash (altered)")
                break
        else:
            opaque += 1
        hashes.append(stored)
        previous = stored
    else:
        report.notes.append(
            f"chain: {len(hashes)} entries link up ({len(hashes) - opaque} recomputed in full, "
            f"{opaque} you may not read checked by their links)"
        )
    if not report.ok:
        return report
    leaves = [leaf_hash(stored) for stored in hashes]
    checkpoint = export.checkpoint
    if not check_checkpoint(checkpoint, trusted, report, name="the export's checkpoint"):
        return report
    if checkpoint["polycule_id"] != export.stream_id:
        report.fail("the export's checkpoint is of another polycule")
    elif checkpoint["tree_size"] != len(leaves):
        report.fail(
            f"the export's checkpoint counts {checkpoint['tree_size']} entries, "
            f"the export holds {len(leaves)}"
        )
    elif merkle_root(leaves).hex() != checkpoint["root_hash"]:
        report.fail("the export's entries do not give the root its checkpoint signs")
    if kept is not None and report.ok:
        _check_kept(kept, leaves, export, trusted, report)
    return report


def _check_kept(
    kept: dict[str, Any], leaves: list[bytes], export: Export, trusted: dict[str, bytes],
    report: Report,
) -> None:
    if not check_checkpoint(kept, trusted, report, name="the checkpoint you kept"):
        return
    if kept["polycule_id"] != export.stream_id:
        report.fail("the checkpoint you kept is of another polycule")
        return
    size = int(kept["tree_size"])
    if size > len(leaves):
        report.fail(
            f"the history got shorter: the checkpoint you kept counts {size} entries, "
            f"this export only {len(leaves)} — entries were taken out"
        )
        return
    # Every leaf is here: the kept tree must be exactly the tree of the first ``size``.
    if merkle_root(leaves[:size]).hex() != kept["root_hash"]:
        report.fail(
            f"the history you saw was rewritten: the first {size} entries no longer give "
            "the root of the checkpoint you kept"
        )
        return
    report.notes.append(f"the checkpoint you kept: its {size} entries are the start of this one")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_export.py", description="Check a polycule's exported record offline."
    )
    parser.add_argument("export", type=Path, help="the export (.jsonl) the service gave")
    parser.add_argument("--checkpoint", type=Path, help="a checkpoint (JSON) you kept before")
    parser.add_argument(
        "--keys", type=Path,
        help="the service's published keys (JSON) as you fetched them; default: the export's",
    )
    arguments = parser.parse_args(argv)
    try:
        export = read_export(arguments.export)
        trusted = read_keys(arguments.keys) if arguments.keys else export.keys
        kept = (
            json.loads(arguments.checkpoint.read_text("utf-8")) if arguments.checkpoint else None
        )
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as error:
        print(f"cannot read: {error}", file=sys.stderr)
        return 2
    if isinstance(kept, dict) and "checkpoint" in kept and "tree_size" not in kept:
        kept = kept["checkpoint"]  # a proof's answer, or a download from the record page
    report = verify(export, trusted, kept)
    for note in report.notes:
        print(f"ok: {note}")
    for problem in report.problems:
        print(f"FAILED: {problem}")
    print("the record holds" if report.ok else "the record does NOT hold")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
