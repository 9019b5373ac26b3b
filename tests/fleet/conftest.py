"""The fleet tier runs only where its engines are installed (Debian's haproxy, pgbouncer,
postgresql-15-auto-failover, pg-auto-failover-cli); elsewhere each test is skipped, saying
which packages are missing. ``.ci/run`` installs them and runs ``pytest -m fleet``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fleet.infrastructure import Fleet, fleet_directory, missing_tools


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    missing = missing_tools()
    if missing:
        pytest.skip(
            "the fleet tier needs Debian's packages " + ", ".join(missing)
            + " (bash .ci/run installs them)"
        )
    with fleet_directory() as made:
        yield made
