"""Schemathesis over the served OpenAPI document.

Every operation (the live streams aside: they answer until the client goes away) is
called with generated input — the document's examples, its boundaries (coverage), random
input (fuzzing) and sequences that follow the document's links (stateful) — signed in with
a real API token and, about half the time, with the real ids of a polycule lived in a
little (tests/fuzz/scene.py, tests/fuzz/hooks.py). Every answer must be no server error,
of a status the document lists for that operation, of the content type it names and of
the schema it gives.

The fuzzer runs as its own process (schemathesis's command line) against the service
served on a loopback port from this one. Its generation is seeded and bounded
(``SEED``, ``EXAMPLES``, ``STATEFUL_STEPS``), so each run sends much the same requests
and the whole takes a few minutes on a small machine; it prints its figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ledger.app import create_app
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from ledger.http.keys import CLOCK
from tests.conftest import with_database
from tests.fuzz.hooks import SCENE_VARIABLE
from tests.fuzz.scene import Scene, set_scene
from tests.fuzz.served import ServedApp, served
from tests.http.accounts_support import TEST_POLICY
from tests.http.conftest import TravellingClock

REPOSITORY = Path(__file__).resolve().parents[2]
SEED = 20_261_206
EXAMPLES = 25
STATEFUL_STEPS = 10
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# The live streams answer until the client goes away: they are tested in tests/http.
LIVE = ("/api/me/live$", "/api/polycules/[^/]+/live$")
# Only a safety net for a fuzzer that hangs: a run takes a few minutes.
RUN_LIMIT_SECONDS = 1800


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def fuzzed_database(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    name = f"ledger_fuzz_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(
        postgres_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'
    ))
    yield with_database(postgres_admin_url, name)
    asyncio.run(_admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def service(fuzzed_database: str) -> Iterator[tuple[ServedApp, Scene]]:
    settings = Settings(
        scheduler_interval_seconds=3600.0, projection_poll_seconds=0.05,
        pool_min_size=1, pool_max_size=4,
    )
    app = create_app(settings, fuzzed_database)
    clock = TravellingClock()
    app[CLOCK] = clock
    app[AUTH_POLICY] = TEST_POLICY
    # Nothing is ever delivered: a fuzzed endpoint may name any host of the internet.
    delivery = [context for context in app.cleanup_ctx
                if getattr(context, "__name__", "") == "webhook_delivery"]
    assert len(delivery) == 1
    app.cleanup_ctx.remove(delivery[0])
    with served(app) as running:
        yield running, set_scene(running.url, clock)


@pytest.mark.slow
def test_every_operation_answers_as_documented(
    service: tuple[ServedApp, Scene], tmp_path: Path
) -> None:
    running, scene = service
    report = tmp_path / "schemathesis.json"

    fuzzer = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{running.url}/api/openapi.json",
            "--checks", ",".join(CHECKS),
            "--mode", "all",
            "--max-examples", str(EXAMPLES),
            "--seed", str(SEED),
            "--phases", "examples,coverage,fuzzing,stateful",
            "--exclude-path-regex", "|".join(LIVE),
            "--workers", "1",
            "--report", "json", "--report-json-path", str(report),
        ],
        # Its cache and reports stay out of the repository.
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")]),
            "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks",
            SCENE_VARIABLE: json.dumps(dataclasses.asdict(scene)),
            # The service is on this machine: never through a proxy the environment names.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        },
        capture_output=True, text=True, timeout=RUN_LIMIT_SECONDS, check=False,
    )

    figures = json.loads(report.read_text()) if report.exists() else {}
    operations, cases = figures.get("operations", {}), figures.get("test_cases", {})
    phases = figures.get("phases", {})
    # The figures, shown with -rP or -s: how much of the API was tried, and how hard.
    print(fuzzer.stdout[fuzzer.stdout.find("Stateful"):])
    print(
        f"schemathesis: {operations.get('tested')} of {operations.get('total')} operations "
        f"tested (the live streams aside), {cases.get('generated')} cases generated, "
        f"{cases.get('with_failures')} with failures; phases: "
        + ", ".join(f"{name} {phase['status']}" for name, phase in phases.items())
    )
    assert fuzzer.returncode == 0, _failures_in(fuzzer.stdout) + fuzzer.stderr[-4000:]
    assert operations["tested"] == operations["selected"] == operations["total"] - len(LIVE)
    assert figures["phases"]["stateful"]["status"] == "success"


def _failures_in(output: str) -> str:
    """What the fuzzer found, from its report on the terminal (the rest is progress)."""
    start = output.find("= FAILURES =")
    return output[start if start >= 0 else -20_000:]
