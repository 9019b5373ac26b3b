"""Members as witnesses: a device registers its key, co-signs a checkpoint it verified,
and the co-signature is served with the checkpoint, and outlives the member's erasure."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.transparency.signing import cosigned_bytes, signature_holds
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def a_device(member: Person, name: str = "laptop") -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    registered = await member.json("POST", "/api/account/device-keys", 201, json={
        "name": name, "public_key": b64(public),
    })
    return key, str(registered["device_key_id"])


def cosignature(key: Ed25519PrivateKey, device: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    signed = key.sign(cosigned_bytes(checkpoint["signed_text"].encode()))
    return {"tree_size": checkpoint["tree_size"], "root_hash": checkpoint["root_hash"],
            "device_key_id": device, "signature": b64(signed)}


async def test_a_cosignature_is_kept_and_served_with_the_checkpoint(client: Client) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        key, device = await a_device(bo)
        checkpoint = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")

        cosigned = await bo.json("POST", f"/api/polycules/{polycule}/checkpoint/cosignatures",
                                 201, json=cosignature(key, device, checkpoint))

        served = await ash.json("GET", f"/api/polycules/{polycule}/checkpoint")
        assert served == cosigned
        [witness] = served["cosignatures"]
        assert witness["member_id"] == str(bo.account_id)
        assert witness["device_key_id"] == device
        assert signature_holds(
            base64.b64decode(witness["public_key"]), base64.b64decode(witness["signature"]),
            cosigned_bytes(served["signed_text"].encode()),
        )


async def test_a_cosignature_must_verify_with_a_key_of_ones_own_not_revoked(
    client: Client,
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        key, device = await a_device(bo)
        checkpoint = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        url = f"/api/polycules/{polycule}/checkpoint/cosignatures"

        async def refused(who: Person, body: dict[str, Any]) -> str:
            answer = await who.request("POST", url, json=body)
            assert answer.status == 409, await answer.text()
            return str((await answer.json())["error"]["code"])

        good = cosignature(key, device, checkpoint)
        assert await refused(ash, good) == "device_key_unusable"  # Bo's device, not Ash's
        other = Ed25519PrivateKey.generate()
        assert await refused(bo, cosignature(other, device, checkpoint)) == "cosignature_invalid"
        assert await refused(bo, {**good, "root_hash": "0" * 64}) == "unknown_checkpoint"
        # Bare checkpoint text, without the co-signature's own first line, is not a
        # co-signature.
        bare = b64(key.sign(checkpoint["signed_text"].encode()))
        assert await refused(bo, {**good, "signature": bare}) == "cosignature_invalid"

        assert (await bo.request("DELETE", f"/api/account/device-keys/{device}")).status == 204
        assert await refused(bo, good) == "device_key_unusable"
        [listed] = await bo.json("GET", "/api/account/device-keys")
        assert listed["revoked_at"] is not None
        assert (await ash.request("DELETE", f"/api/account/device-keys/{device}")).status == 404


async def test_erasing_a_member_keeps_their_cosignatures_valid_and_unlinked(
    client: Client,
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo, cy)
        key, device = await a_device(bo)
        checkpoint = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        await bo.json("POST", f"/api/polycules/{polycule}/checkpoint/cosignatures", 201,
                      json=cosignature(key, device, checkpoint))

        await bo.json("DELETE", "/api/account", json={"handle": bo.handle, "password": PASSWORD})

        kept = await cy.json(
            "GET", f"/api/polycules/{polycule}/proofs/consistency?from=1&to="
            f"{checkpoint['tree_size']}"
        )
        [witness] = kept["checkpoint"]["cosignatures"]
        assert witness["member_id"] is None and witness["device_key_id"] is None
        assert signature_holds(
            base64.b64decode(witness["public_key"]), base64.b64decode(witness["signature"]),
            cosigned_bytes(checkpoint["signed_text"].encode()),
        )
        assert kept["checkpoint"]["signature"] == checkpoint["signature"]
