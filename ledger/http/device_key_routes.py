"""Members' device keys, and the co-signatures their devices give checkpoints.

A device (a browser, a member's script) registers the public half of an Ed25519 key; the
private half never leaves it. Having verified a checkpoint, the device signs
``polycule-ledger-cosignature/v1\\n`` followed by the checkpoint's signed text, and sends
the signature here; the service keeps it and serves it with the checkpoint from then on
(docs/verification.md, "Members as witnesses").
"""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import Field

from ledger.errors import DomainError, NotFound
from ledger.http.authorization import caller_of, polycule_of
from ledger.http.checkpoint_routes import b64, checkpoint_view
from ledger.http.keys import CHECKPOINTS, CLOCK, POOL
from ledger.http.parsing import TEXT_PATTERN, named_id, parse_body
from ledger.http.shapes import Strict, json_of, json_of_many
from ledger.transparency import devices
from ledger.transparency.signing import public_key_from_raw

# Base64 of 32 bytes (an Ed25519 public key) and of 64 (a signature), padded.
PUBLIC_KEY_BASE64 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
SIGNATURE_BASE64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"

# The codes a co-signature may be refused with (409).
COSIGNATURE_REFUSALS = frozenset({
    "unknown_checkpoint", "device_key_unusable", "cosignature_invalid",
})
KEY_REFUSALS = frozenset({"device_key_taken", "not_a_public_key"})


class NewDeviceKey(Strict):
    # What the member calls the device ("my phone", "laptop browser").
    name: str = Field(min_length=1, max_length=80, pattern=TEXT_PATTERN)
    # Base64 of the raw 32-byte Ed25519 public key.
    public_key: str = Field(pattern=PUBLIC_KEY_BASE64)


class DeviceKeyView(Strict):
    device_key_id: UUID
    name: str
    public_key: str
    created_at: datetime
    # Set once revoked: it co-signs nothing more; what it signed still verifies.
    revoked_at: datetime | None


class NewCosignature(Strict):
    # The checkpoint co-signed, as the service signed it (its size and root).
    tree_size: int = Field(ge=0, le=2**63 - 1)
    root_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    device_key_id: UUID
    # Base64 of the Ed25519 signature over the co-signed text.
    signature: str = Field(pattern=SIGNATURE_BASE64)


def _view(key: devices.DeviceKey) -> DeviceKeyView:
    return DeviceKeyView(
        device_key_id=key.device_key_id, name=key.name, public_key=b64(key.public_key),
        created_at=key.created_at, revoked_at=key.revoked_at,
    )


async def my_device_keys(request: web.Request) -> web.Response:
    keys = await devices.keys_of(request.app[POOL], caller_of(request))
    return json_of_many([_view(key) for key in keys])


async def register_device_key(request: web.Request) -> web.Response:
    body = await parse_body(request, NewDeviceKey)
    raw = base64.b64decode(body.public_key)
    try:
        public_key_from_raw(raw)
    except ValueError:
        raise DomainError("not_a_public_key", "that is not an Ed25519 public key") from None
    key = await devices.register(
        request.app[POOL], caller_of(request), body.name, raw, request.app[CLOCK].now()
    )
    if key is None:
        raise DomainError("device_key_taken", "that public key is registered already")
    return json_of(_view(key), status=201)


async def revoke_device_key(request: web.Request) -> web.Response:
    device_key_id = named_id(request.match_info["device_key_id"], "device key")
    if not await devices.revoke(
        request.app[POOL], caller_of(request), device_key_id, request.app[CLOCK].now()
    ):
        raise NotFound("no such device key")  # someone else's is "no such" too
    return web.Response(status=204)


async def cosign_checkpoint(request: web.Request) -> web.Response:
    body = await parse_body(request, NewCosignature)
    found = polycule_of(request)
    checkpoint = await request.app[CHECKPOINTS].cosign(
        found.polycule_id, found.member_id, body.tree_size, bytes.fromhex(body.root_hash),
        body.device_key_id, base64.b64decode(body.signature),
    )
    return json_of(checkpoint_view(checkpoint), status=201)


