"""Signed checkpoints of a polycule's history, and the proofs between them.

Nothing here runs inside an append: the tree is computed from the stored hashes when a
checkpoint or a proof is asked for (one indexed read of the stream's hashes), and the
signed checkpoint is kept (``checkpoints``) so that the same tree is answered with the same
signature and its co-signatures afterwards. The root is always recomputed from the events
as they are now: a checkpoint kept from before is served only while the events still give
its root, so a history rewritten under the service gets a new, contradicting checkpoint
(and a proof that fails against what members kept), never the old one as cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import structlog

from ledger.clock import Clock
from ledger.errors import DomainError
from ledger.store import merkle
from ledger.transparency import devices
from ledger.transparency.signing import (
    CheckpointKeys,
    checkpoint_body,
    cosigned_bytes,
    signature_holds,
)

if TYPE_CHECKING:
    from ledger.database import Connection

log = structlog.get_logger(__name__)

# events_stream_version_key (stream_id, stream_version): the stream's hashes in order, as
# one value of 32 bytes an event (one value to decode rather than a row per event: for a
# long history, most of the time its hashes take to read).
LEAF_HASHES = """
SELECT coalesce(string_agg(hash, ''::bytea ORDER BY stream_version), ''::bytea) FROM events
 WHERE stream_id = $1 AND stream_version <= $2
"""

# events_stream_version_key: one event's stored hash (an inclusion proof's leaf).
EVENT_HASH = "SELECT hash FROM events WHERE stream_id = $1 AND stream_version = $2"

# checkpoints_tree_key.
_CHECKPOINT_COLUMNS = (
    "checkpoint_id, polycule_id, tree_size, root_hash, issued_at, key_id, signature"
)
FIND_CHECKPOINT = f"""
SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints
 WHERE polycule_id = $1 AND tree_size = $2 AND root_hash = $3
"""

KEEP_CHECKPOINT = """
INSERT INTO checkpoints (polycule_id, tree_size, root_hash, issued_at, key_id, signature)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT ON CONSTRAINT checkpoints_tree_key DO NOTHING
"""

# Whether the service signed another root for a size before: the service contradicting
# itself is logged loudly (checkpoints_tree_key's prefix serves it).
OTHER_ROOTS = """
SELECT count(*) FROM checkpoints
 WHERE polycule_id = $1 AND tree_size = $2 AND root_hash <> $3
"""

# The primary key's prefix (checkpoint_id). A device erased with its account names
# nobody: its id leads to no key any more, and is not shown.
COSIGNATURES = """
SELECT c.public_key, c.signature, c.signed_at, d.device_key_id, d.account_id
  FROM checkpoint_cosignatures c
  LEFT JOIN device_keys d USING (device_key_id)
 WHERE c.checkpoint_id = $1 AND c.polycule_id = $2
 ORDER BY c.signed_at, c.public_key
"""

KEEP_COSIGNATURE = """
INSERT INTO checkpoint_cosignatures (checkpoint_id, polycule_id, public_key, device_key_id,
                                     signature, signed_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
"""

_BIGINT_MAX = 2**63 - 1


class HistoryShorter(DomainError):
    """A size was asked for that the history does not reach (or no longer reaches): 409."""

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__("history_shorter", message, details=details)


@dataclass(frozen=True)
class Cosignature:
    public_key: bytes
    signature: bytes
    signed_at: datetime
    # None once the device's member erased their account (the signature still verifies).
    device_key_id: UUID | None
    member_id: UUID | None


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint_id: int
    polycule_id: UUID
    tree_size: int
    root_hash: bytes
    issued_at: datetime
    key_id: str
    signature: bytes
    cosignatures: tuple[Cosignature, ...] = ()

    @property
    def body(self) -> bytes:
        return checkpoint_body(self.polycule_id, self.tree_size, self.root_hash, self.issued_at)


@dataclass(frozen=True)
class Proof:
    checkpoint: SignedCheckpoint
    path: list[bytes]


@dataclass(frozen=True)
class InclusionProof(Proof):
    leaf: bytes  # the event's stored hash (the leaf's input)


class Checkpoints:
    """Answers checkpoints and proofs for polycules; signs what it has not signed yet."""

    def __init__(self, pool: asyncpg.Pool, keys: CheckpointKeys, clock: Clock) -> None:
        self._pool = pool
        self.keys = keys
        self._clock = clock

    async def latest(self, polycule_id: UUID) -> SignedCheckpoint:
        """The checkpoint of the whole history as it is now."""
        tree = await self._tree(polycule_id, _BIGINT_MAX)
        return await self._signed(polycule_id, tree, tree.size)

    async def of_leaves(self, polycule_id: UUID, stored_hashes: list[bytes]) -> SignedCheckpoint:
        """The checkpoint of the tree over these stored hashes (an export read them)."""
        tree = merkle.Tree(merkle.leaf_hashes(stored_hashes))
        return await self._signed(polycule_id, tree, tree.size)

    async def consistency(self, polycule_id: UUID, first: int, second: int | None) -> Proof:
        """The proof that the tree of ``first`` events is a prefix of that of ``second``
        (the whole history by default), with the signed checkpoint of the latter."""
        tree = await self._tree(polycule_id, _BIGINT_MAX if second is None else second)
        size = tree.size if second is None else second
        _reaches(tree, max(first, size))
        if first > size:
            raise HistoryShorter(
                f"cannot prove {first} events consistent with fewer ({size})",
                details={"first": first, "second": size},
            )
        checkpoint = await self._signed(polycule_id, tree, size)
        return Proof(checkpoint, tree.consistency_proof(first, size))

    async def inclusion(self, polycule_id: UUID, version: int, size: int) -> InclusionProof:
        """The proof that the event at ``version`` is in the tree of ``size`` events."""
        if not 1 <= version <= size:
            raise HistoryShorter(
                f"the event at version {version} is not among the first {size}",
                details={"version": version, "size": size},
            )
        tree = await self._tree(polycule_id, size)
        _reaches(tree, size)
        stored = await self._pool.fetchval(EVENT_HASH, polycule_id, version)
        checkpoint = await self._signed(polycule_id, tree, size)
        return InclusionProof(
            checkpoint, tree.inclusion_proof(version - 1, size), bytes(stored)
        )

    async def cosign(
        self, polycule_id: UUID, member_id: UUID, tree_size: int, root_hash: bytes,
        device_key_id: UUID, signature: bytes,
    ) -> SignedCheckpoint:
        """Keep a member's device's co-signature of a checkpoint the service signed."""
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(FIND_CHECKPOINT, polycule_id, tree_size, root_hash)
            if row is None:
                raise DomainError(
                    "unknown_checkpoint",
                    "the service never signed a checkpoint of this size and root here",
                )
            public_key = await connection.fetchval(devices.USABLE, device_key_id, member_id)
            if public_key is None:
                raise DomainError(
                    "device_key_unusable", "no device key of yours by that id, or it is revoked"
                )
            checkpoint = _checkpoint(row, [])
            if not signature_holds(bytes(public_key), signature, cosigned_bytes(checkpoint.body)):
                raise DomainError(
                    "cosignature_invalid",
                    "the signature does not verify with that device's key over the "
                    "checkpoint's co-signed text",
                )
            await connection.execute(
                KEEP_COSIGNATURE, row["checkpoint_id"], polycule_id, bytes(public_key),
                device_key_id,
                signature, self._clock.now(),
            )
            cosignatures = await connection.fetch(
                COSIGNATURES, row["checkpoint_id"], polycule_id
            )
        return _checkpoint(row, cosignatures)

    async def _tree(self, polycule_id: UUID, up_to: int) -> merkle.Tree:
        joined: bytes = await self._pool.fetchval(LEAF_HASHES, polycule_id, up_to)
        width = merkle.HASH_BYTES
        return merkle.Tree(
            merkle.leaf_hashes([joined[at:at + width] for at in range(0, len(joined), width)])
        )

    async def _signed(self, polycule_id: UUID, tree: merkle.Tree, size: int) -> SignedCheckpoint:
        root = tree.root(size)
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(FIND_CHECKPOINT, polycule_id, size, root)
            if row is None:
                row = await self._sign(connection, polycule_id, size, root)
            cosignatures = await connection.fetch(
                COSIGNATURES, row["checkpoint_id"], polycule_id
            )
        return _checkpoint(row, cosignatures)

    async def _sign(
        self, connection: Connection, polycule_id: UUID, size: int, root: bytes
    ) -> asyncpg.Record:
        issued_at = self._clock.now()
        signature = self.keys.sign(checkpoint_body(polycule_id, size, root, issued_at))
        await connection.execute(
            KEEP_CHECKPOINT, polycule_id, size, root, issued_at, self.keys.key_id, signature
        )
        if await connection.fetchval(OTHER_ROOTS, polycule_id, size, root):
            # The events no longer give the root this service signed for this size before:
            # the history was rewritten under it. Members who kept the old checkpoint will
            # see the new one contradict it; the operator must hear of it too.
            log.error("checkpoint_contradicts_an_earlier_one", polycule_id=str(polycule_id),
                      tree_size=size)
        # Another instance may have signed the same tree a moment before: its row wins.
        found: asyncpg.Record | None = await connection.fetchrow(
            FIND_CHECKPOINT, polycule_id, size, root
        )
        if found is None:
            raise RuntimeError("a checkpoint just kept cannot be read back")
        return found


def _reaches(tree: merkle.Tree, size: int) -> None:
    if size > tree.size:
        raise HistoryShorter(
            f"the history holds {tree.size} events, fewer than {size}",
            details={"size": tree.size, "asked": size},
        )


def _checkpoint(row: asyncpg.Record, cosignatures: list[asyncpg.Record]) -> SignedCheckpoint:
    return SignedCheckpoint(
        checkpoint_id=row["checkpoint_id"],
        polycule_id=row["polycule_id"],
        tree_size=row["tree_size"],
        root_hash=bytes(row["root_hash"]),
        issued_at=row["issued_at"],
        key_id=row["key_id"],
        signature=bytes(row["signature"]),
        cosignatures=tuple(
            Cosignature(
                public_key=bytes(c["public_key"]), signature=bytes(c["signature"]),
                signed_at=c["signed_at"], device_key_id=c["device_key_id"],
                member_id=c["account_id"],
            )
            for c in cosignatures
        ),
    )
