"""The audit export checked offline: by ``python -m ledger verify-export``, and by the
single-file verifier a member downloads, in a virtual environment holding nothing but
``cryptography`` — and what each says after history was rewritten under the service, and
after the service's key was rotated."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from ledger.app import create_app
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from ledger.transparency.signing import new_private_key_text
from tests.attacks import drop_last_events, rewrite_last_event
from tests.http.accounts_support import TEST_POLICY
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import Client

SECRET = "I told only Bo about the new person I am seeing."


async def run(*command: str | Path, cwd: Path | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *map(str, command), cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def verify_export(*arguments: str | Path) -> tuple[int, str]:
    return await run(sys.executable, "-m", "ledger", "verify-export", *arguments)


async def export_of(member: Person, polycule: str, path: Path) -> Path:
    answer = await member.request("GET", f"/api/polycules/{polycule}/audit-export")
    assert answer.status == 200
    return saved(path, await answer.read())


async def kept_checkpoint(member: Person, polycule: str, path: Path) -> Path:
    checkpoint = await member.json("GET", f"/api/polycules/{polycule}/checkpoint")
    return saved(path, json.dumps(checkpoint).encode())


def saved(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


async def lived_in(ash: Person, bo: Person, cy: Person) -> str:
    """A polycule with an entry Cy may not read (a disclosure to Bo alone)."""
    polycule = await polycule_of(ash, bo, cy)
    await ash.json("POST", f"/api/polycules/{polycule}/disclosures", 201, json={
        "kind": "new_connection", "text": SECRET, "recipients": [str(bo.account_id)],
    })
    return polycule


async def test_an_export_verifies_offline_with_opaque_entries_and_a_checkpoint_kept(
    client: Client, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        kept = await kept_checkpoint(cy, polycule, tmp_path / "kept.json")
        await ash.json("POST", f"/api/polycules/{polycule}/invitations", 201, json={})
        exported = await export_of(cy, polycule, tmp_path / "export.jsonl")
        keys = tmp_path / "keys.json"
        keys.write_bytes(await (await client.get("/.well-known/ledger-checkpoint-keys")).read())

        status, said = await verify_export(exported, "--checkpoint", kept, "--keys", keys)

        assert status == 0, said
        assert "1 you may not read checked by their links" in said
        assert "the start of this one" in said
        assert said.strip().endswith("the record holds")


async def test_an_altered_entry_or_a_forged_checkpoint_is_refused(
    client: Client, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        exported = await export_of(ash, polycule, tmp_path / "export.jsonl")
        lines = exported.read_bytes().splitlines()
        header, *entries, trailer = [orjson.loads(line) for line in lines]

        def written(name: str, *lines: object) -> Path:
            path = tmp_path / name
            path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
            return path

        altered = json.loads(json.dumps(entries))
        altered[1]["metadata"]["actor"] = str(uuid.uuid4())
        status, said = await verify_export(written("altered.jsonl", header, *altered, trailer))
        assert status == 1 and "entry 2: its contents do not match its hash" in said

        # A whole new history, with a checkpoint over it that the service never signed.
        forged_checkpoint = {**trailer["checkpoint"], "tree_size": len(entries) - 1}
        forged_checkpoint.pop("signed_text")
        status, said = await verify_export(
            written("forged.jsonl", header, *entries[:-1], {"checkpoint": forged_checkpoint})
        )
        assert status == 1 and "signature does not verify" in said


async def test_rewritten_history_is_caught_by_a_checkpoint_kept_before(
    client: Client, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        kept = await kept_checkpoint(bo, polycule, tmp_path / "kept.json")

        await rewrite_last_event(pool, uuid.UUID(polycule))
        rewritten = await export_of(bo, polycule, tmp_path / "rewritten.jsonl")

        # On its own, the rewritten export is consistent: the service signs what it holds.
        assert (await verify_export(rewritten))[0] == 0
        status, said = await verify_export(rewritten, "--checkpoint", kept)
        assert status == 1
        assert "the history you saw was rewritten" in said


async def test_events_taken_out_are_caught_by_a_checkpoint_kept_before(
    client: Client, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        kept = await kept_checkpoint(bo, polycule, tmp_path / "kept.json")

        await drop_last_events(pool, uuid.UUID(polycule), 2)
        shortened = await export_of(bo, polycule, tmp_path / "shortened.jsonl")

        assert (await verify_export(shortened))[0] == 0
        status, said = await verify_export(shortened, "--checkpoint", kept)
        assert status == 1
        assert "the history got shorter" in said


async def test_erasing_a_member_keeps_every_checkpoint_and_proof_valid(
    client: Client, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        kept = await kept_checkpoint(bo, polycule, tmp_path / "kept.json")

        await ash.json("DELETE", "/api/account", json={"handle": ash.handle, "password": PASSWORD})

        exported = await export_of(bo, polycule, tmp_path / "after.jsonl")
        assert SECRET.encode() not in exported.read_bytes()
        status, said = await verify_export(exported, "--checkpoint", kept)
        assert status == 0, said
        size = json.loads(kept.read_text())["tree_size"]
        proven = await bo.json(
            "GET", f"/api/polycules/{polycule}/proofs/consistency?from={size}"
        )
        assert proven["checkpoint"]["tree_size"] == size + 1  # Ash left, on erasure


@pytest.mark.slow
async def test_the_downloaded_verifier_runs_where_only_cryptography_is_installed(
    client: Client, tmp_path: Path
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy:
        polycule = await lived_in(ash, bo, cy)
        kept = await kept_checkpoint(cy, polycule, tmp_path / "kept.json")
        exported = await export_of(cy, polycule, tmp_path / "export.jsonl")
        download = await client.get("/verify_export.py")
        assert download.status == 200
        verifier = tmp_path / "verify_export.py"
        verifier.write_bytes(await download.read())

        venv = tmp_path / "venv"
        assert (await run(sys.executable, "-m", "venv", venv))[0] == 0
        python = venv / "bin" / "python"
        installed = await run(python, "-m", "pip", "install", "--quiet", "cryptography")
        assert installed[0] == 0, installed[1]
        _, listed = await run(python, "-m", "pip", "list", "--format=freeze")
        names = {line.split("==")[0].lower() for line in listed.split()}
        assert names <= {"cryptography", "cffi", "pycparser", "pip", "setuptools"}, names
        assert (await run(python, "-I", "-c", "import ledger"))[0] != 0

        status, said = await run(python, "-I", verifier, exported, "--checkpoint", kept,
                                 cwd=tmp_path)
        assert status == 0, said
        assert said.strip().endswith("the record holds")


async def test_after_the_key_is_rotated_old_and_new_checkpoints_verify_with_the_published_keys(
    client: Client, settings: Settings, database_url: str, service_database_url: str,
    aiohttp_client: AiohttpClient, tmp_path: Path,
) -> None:
    async with person(client) as ash, person(client) as bo:
        polycule = await polycule_of(ash, bo)
        kept = await kept_checkpoint(bo, polycule, tmp_path / "kept.json")
        old_keys = await (await client.get("/.well-known/ledger-checkpoint-keys")).json()
        [old_key] = old_keys["keys"]

        # The operator rotates: a new key signs, the old one's public key stays published.
        assert settings.checkpoint_key is not None
        rotated = settings.model_copy(update={
            "checkpoint_key": SecretStr(new_private_key_text()),
            "checkpoint_retired_keys": old_key["public_key"],
        })
        app = create_app(rotated, service_database_url, owner_url=database_url)
        app[AUTH_POLICY] = TEST_POLICY
        after = await aiohttp_client(app)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as jar:
            bo_again = Person(after, jar, bo.handle)
            await bo_again.sign_in()
            await bo_again.json("POST", f"/api/polycules/{polycule}/invitations", 201, json={})
            published = await (await after.get("/.well-known/ledger-checkpoint-keys")).json()
            keys = saved(tmp_path / "keys.json", json.dumps(published).encode())
            latest = await bo_again.json("GET", f"/api/polycules/{polycule}/checkpoint")
            exported = await export_of(bo_again, polycule, tmp_path / "export.jsonl")

        assert [(key["key_id"] == old_key["key_id"], key["status"])
                for key in published["keys"]] == [(False, "current"), (True, "retired")]
        assert latest["key_id"] == published["keys"][0]["key_id"]
        status, said = await verify_export(exported, "--checkpoint", kept, "--keys", keys)
        assert status == 0, said
        assert f"signed by key {old_key['key_id']}" in said
        assert f"signed by key {latest['key_id']}" in said
        # Without the retired key published, what it signed would no longer verify.
        current_only = saved(tmp_path / "current.json", json.dumps(
            {**published, "keys": published["keys"][:1]}
        ).encode())
        status, said = await verify_export(exported, "--checkpoint", kept, "--keys", current_only)
        assert status == 1 and "not among the trusted keys" in said
