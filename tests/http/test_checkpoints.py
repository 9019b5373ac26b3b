"""Signed checkpoints and proofs over HTTP: what a member's client checks on each visit,
and what it is told when the history it saw was rewritten under the service."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import asyncpg

from ledger.store import merkle
from ledger.store.verify import verify
from ledger.transparency.signing import cosigned_bytes, signature_holds
from tests.attacks import drop_last_events, rewrite_last_event
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client


async def published_keys(client: Client) -> dict[str, bytes]:
    answer = await client.get("/.well-known/ledger-checkpoint-keys")
    assert answer.status == 200
    return {key["key_id"]: base64.b64decode(key["public_key"])
            for key in (await answer.json())["keys"]}


def signed_by_the_service(checkpoint: dict[str, Any], keys: dict[str, bytes]) -> bool:
    text = checkpoint["signed_text"]
    lines = text.split("\n")
    return (
        lines[:5] == [
            "polycule-ledger-checkpoint/v1", checkpoint["polycule_id"],
            str(checkpoint["tree_size"]), checkpoint["root_hash"], str(checkpoint["issued_at_us"]),
        ]
        and checkpoint["key_id"] in keys
        and signature_holds(
            keys[checkpoint["key_id"]], base64.b64decode(checkpoint["signature"]), text.encode()
        )
    )


async def still_holds(member: Person, polycule: str, kept: dict[str, Any]) -> bool:
    """What a member's client does with the checkpoint it kept: the new one must be signed,
    no shorter, and proven to extend the one kept."""
    keys = await published_keys(member.client)
    latest = await member.json("GET", f"/api/polycules/{polycule}/checkpoint")
    if not signed_by_the_service(latest, keys) or latest["tree_size"] < kept["tree_size"]:
        return False
    answer = await member.request(
        "GET", f"/api/polycules/{polycule}/proofs/consistency?from={kept['tree_size']}"
        f"&to={latest['tree_size']}"
    )
    if answer.status != 200:
        return False
    proven = await answer.json()
    return signed_by_the_service(proven["checkpoint"], keys) and merkle.verify_consistency(
        kept["tree_size"], proven["checkpoint"]["tree_size"],
        bytes.fromhex(kept["root_hash"]), bytes.fromhex(proven["checkpoint"]["root_hash"]),
        [bytes.fromhex(node) for node in proven["proof"]],
    )


async def test_the_checkpoint_is_signed_over_the_tree_of_the_chain(client: Client) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        events = (await ash.json("GET", f"/api/polycules/{polycule}/events"))["events"]

        checkpoint = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")

        assert checkpoint["tree_size"] == len(events)
        leaves = merkle.leaf_hashes([bytes.fromhex(event["hash"]) for event in events])
        assert checkpoint["root_hash"] == merkle.root(leaves).hex()
        assert signed_by_the_service(checkpoint, await published_keys(client))
        assert checkpoint["cosignatures"] == []
        # The same tree is answered with the same signed checkpoint.
        assert await ash.json("GET", f"/api/polycules/{polycule}/checkpoint") == checkpoint


async def test_a_checkpoint_kept_is_proven_a_prefix_of_every_later_one(client: Client) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await polycule_of(ash, bo)
        kept = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        # More history: an invitation, a member joining.
        invitation = await ash.json("POST", f"/api/polycules/{polycule}/invitations", 201,
                                    json={})
        await cy.json("POST", f"/api/invitations/{invitation['token']}/accept", json={})

        assert await still_holds(bo, polycule, kept)
        latest = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        assert latest["tree_size"] == kept["tree_size"] + 2


async def test_an_event_is_proven_in_the_tree(client: Client) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        events = (await ash.json("GET", f"/api/polycules/{polycule}/events"))["events"]
        size = len(events)

        for version in range(1, size + 1):
            proven = await bo.json(
                "GET", f"/api/polycules/{polycule}/proofs/inclusion?version={version}&size={size}"
            )
            assert proven["event_hash"] == events[version - 1]["hash"]
            assert merkle.verify_inclusion(
                version - 1, size, merkle.leaf_hash(bytes.fromhex(proven["event_hash"])),
                [bytes.fromhex(node) for node in proven["proof"]],
                bytes.fromhex(proven["checkpoint"]["root_hash"]),
            )
        beyond = await bo.request(
            "GET", f"/api/polycules/{polycule}/proofs/inclusion?version=1&size={size + 1}"
        )
        assert beyond.status == 409
        assert (await beyond.json())["error"]["code"] == "history_shorter"


async def test_only_members_see_checkpoints_and_anyone_sees_the_keys(client: Client) -> None:
    async with person(client) as ash, person(client) as stranger:
        polycule = await polycule_of(ash)
        for path in ("checkpoint", "proofs/consistency?from=1",
                     "proofs/inclusion?version=1&size=1"):
            url = f"/api/polycules/{polycule}/{path}"
            assert (await stranger.request("GET", url)).status == 404
            assert (await client.get(url)).status == 401
        keys = await (await client.get("/.well-known/ledger-checkpoint-keys")).json()
        assert [key["status"] for key in keys["keys"]] == ["current"]
        assert keys["keys"][0]["algorithm"] == "Ed25519"


async def test_a_rewritten_last_event_passes_the_chain_but_not_the_member_who_kept_a_checkpoint(
    client: Client, pool: asyncpg.Pool
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        kept = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        assert await still_holds(bo, polycule, kept)

        await rewrite_last_event(pool, uuid.UUID(polycule))

        async with pool.acquire() as connection:
            assert (await verify(connection, uuid.UUID(polycule))).ok  # the chain is fooled
        assert (await bo.json("GET", f"/api/polycules/{polycule}/verify"))["verified"]
        assert not await still_holds(bo, polycule, kept)
        latest = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")
        # Same size, another root: the service now contradicts what it signed before.
        assert latest["tree_size"] == kept["tree_size"]
        assert latest["root_hash"] != kept["root_hash"]


async def test_dropped_last_events_pass_the_chain_but_not_the_member_who_kept_a_checkpoint(
    client: Client, pool: asyncpg.Pool
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        kept = await bo.json("GET", f"/api/polycules/{polycule}/checkpoint")

        await drop_last_events(pool, uuid.UUID(polycule), 2)

        async with pool.acquire() as connection:
            assert (await verify(connection, uuid.UUID(polycule))).ok
        assert not await still_holds(bo, polycule, kept)
        answer = await bo.request(
            "GET", f"/api/polycules/{polycule}/proofs/consistency?from={kept['tree_size']}"
        )
        assert answer.status == 409
        assert (await answer.json())["error"]["details"]["size"] == kept["tree_size"] - 2


async def test_a_forged_checkpoint_is_refused(client: Client) -> None:
    async with person(client) as ash:
        polycule = await polycule_of(ash)
        checkpoint = await ash.json("GET", f"/api/polycules/{polycule}/checkpoint")
        keys = await published_keys(client)
        forged = {**checkpoint, "tree_size": checkpoint["tree_size"] + 1}
        forged["signed_text"] = checkpoint["signed_text"].replace(
            f"\n{checkpoint['tree_size']}\n", f"\n{forged['tree_size']}\n"
        )
        assert signed_by_the_service(checkpoint, keys)
        assert not signed_by_the_service(forged, keys)
        # Signed by a device's key, it is not the service's signature.
        assert not signature_holds(
            keys[checkpoint["key_id"]], base64.b64decode(checkpoint["signature"]),
            cosigned_bytes(checkpoint["signed_text"].encode()),
        )
