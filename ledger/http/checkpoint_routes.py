"""Signed checkpoints and proofs: how a member holds the service to its history.

A member (their browser, their script) keeps the last checkpoint it verified. On its next
visit it asks for the latest one and for the proof that the tree it kept is a prefix of the
new one; if the signature does not verify, the history got shorter, or the proof fails, the
history it saw no longer holds. What is signed, and how to check each answer, is in
docs/verification.md; the service's public keys are at ``/.well-known/ledger-checkpoint-keys``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.http.authorization import polycule_of
from ledger.http.keys import CHECKPOINTS
from ledger.http.parsing import BIGINT_MAX, parse_query
from ledger.http.shapes import Strict, json_of
from ledger.transparency.checkpoints import SignedCheckpoint
from ledger.transparency.signing import (
    CHECKPOINT_HEADER,
    COSIGNATURE_HEADER,
    epoch_microseconds,
)

WELL_KNOWN_KEYS = "/.well-known/ledger-checkpoint-keys"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class CosignatureView(Strict):
    # Base64 of the device's 32-byte Ed25519 public key and of its 64-byte signature over
    # "polycule-ledger-cosignature/v1\n" followed by the checkpoint's signed text.
    public_key: str
    signature: str
    signed_at: datetime
    # The device and the member it belongs to; null once that member erased their account.
    device_key_id: UUID | None
    member_id: UUID | None


class CheckpointView(Strict):
    polycule_id: UUID
    tree_size: int
    # Hex of the Merkle tree's root over the first tree_size events (RFC 9162 hashing).
    root_hash: str
    issued_at: datetime
    # The same moment as signed: microseconds since 1970-01-01T00:00:00Z.
    issued_at_us: int
    # Which of the service's published keys signed it.
    key_id: str
    # Base64 of the Ed25519 signature over ``signed_text`` (as ASCII bytes).
    signature: str
    # Exactly the bytes that were signed, as text.
    signed_text: str
    cosignatures: list[CosignatureView]


class ConsistencyQuery(Strict):
    # The size of the tree the member kept.
    from_: int = Field(alias="from", ge=0, le=BIGINT_MAX)
    # The size to prove it against; the whole history as it is now by default.
    to: int | None = Field(default=None, ge=0, le=BIGINT_MAX)


class ConsistencyView(Strict):
    first_size: int
    # The checkpoint of the larger tree, signed.
    checkpoint: CheckpointView
    # RFC 9162 consistency proof, each node in hex, from first_size to checkpoint.tree_size.
    proof: list[str]


class InclusionQuery(Strict):
    # The event's stream version (its leaf is version - 1).
    version: int = Field(ge=1, le=BIGINT_MAX)
    size: int = Field(ge=1, le=BIGINT_MAX)


class InclusionView(Strict):
    version: int
    # Hex of the event's stored hash: the leaf's input.
    event_hash: str
    checkpoint: CheckpointView
    # RFC 9162 inclusion proof (audit path), each node in hex.
    proof: list[str]


class PublishedKeyView(Strict):
    key_id: str
    algorithm: str
    # Base64 of the raw 32-byte Ed25519 public key.
    public_key: str
    # "current" signs new checkpoints; "retired" verifies those signed before a rotation.
    status: str


class PublishedKeys(Strict):
    # What the signatures are over, for a client that checks them.
    checkpoint_header: str
    cosignature_header: str
    keys: list[PublishedKeyView]


def checkpoint_view(checkpoint: SignedCheckpoint) -> CheckpointView:
    body = checkpoint.body
    return CheckpointView(
        polycule_id=checkpoint.polycule_id,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash.hex(),
        issued_at=checkpoint.issued_at,
        issued_at_us=epoch_microseconds(checkpoint.issued_at),
        key_id=checkpoint.key_id,
        signature=b64(checkpoint.signature),
        signed_text=body.decode("ascii"),
        cosignatures=[
            CosignatureView(
                public_key=b64(c.public_key), signature=b64(c.signature), signed_at=c.signed_at,
                device_key_id=c.device_key_id, member_id=c.member_id,
            )
            for c in checkpoint.cosignatures
        ],
    )


async def latest_checkpoint(request: web.Request) -> web.Response:
    found = polycule_of(request)
    checkpoint = await request.app[CHECKPOINTS].latest(found.polycule_id)
    return json_of(checkpoint_view(checkpoint))


async def consistency_proof(request: web.Request) -> web.Response:
    asked = parse_query(request, ConsistencyQuery)
    proof = await request.app[CHECKPOINTS].consistency(
        polycule_of(request).polycule_id, asked.from_, asked.to
    )
    return json_of(ConsistencyView(
        first_size=asked.from_,
        checkpoint=checkpoint_view(proof.checkpoint),
        proof=[node.hex() for node in proof.path],
    ))


async def inclusion_proof(request: web.Request) -> web.Response:
    asked = parse_query(request, InclusionQuery)
    proof = await request.app[CHECKPOINTS].inclusion(
        polycule_of(request).polycule_id, asked.version, asked.size
    )
    return json_of(InclusionView(
        version=asked.version,
        event_hash=proof.leaf.hex(),
        checkpoint=checkpoint_view(proof.checkpoint),
        proof=[node.hex() for node in proof.path],
    ))


def published_keys(request: web.Request) -> PublishedKeys:
    return PublishedKeys(
        checkpoint_header=CHECKPOINT_HEADER.decode("ascii").strip(),
        cosignature_header=COSIGNATURE_HEADER.decode("ascii").strip(),
        keys=[
            PublishedKeyView(
                key_id=key.key_id, algorithm="Ed25519", public_key=b64(key.public_key),
                status=key.status,
            )
            for key in request.app[CHECKPOINTS].keys.published()
        ],
    )


async def checkpoint_keys(request: web.Request) -> web.Response:
    return json_of(published_keys(request))
