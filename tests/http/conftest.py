"""The real application, built by the factory, against this test's own database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from ledger.app import create_app
from ledger.auth.policy import ROUTE_RULES, Rule
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from ledger.http.keys import CLOCK
from ledger.privacy import MasterKey
from ledger.transparency.signing import new_private_key_text
from tests.http.accounts_support import TEST_POLICY
from tests.http.support import MAX_REQUEST_BYTES, OPERATOR_TOKEN, Client


@pytest.fixture
def settings() -> Settings:
    return Settings(
        max_request_bytes=MAX_REQUEST_BYTES,
        pool_min_size=1,
        pool_max_size=4,
        projection_poll_seconds=0.05,
        shutdown_timeout_seconds=2.0,
        webhook_timeout_seconds=2.0,
        # Tests tick the scheduler themselves (app[SCHEDULER].tick()), with their own clock.
        scheduler_interval_seconds=3600.0,
        master_key=MasterKey.generate().to_base64(),
        checkpoint_key=new_private_key_text(),
        operator_token=OPERATOR_TOKEN,
    )


class TravellingClock:
    """The system's clock, moved forward by a test that lives through weeks or months."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, **duration: float) -> None:
        self.shift += timedelta(**duration)


@pytest.fixture
def clock() -> TravellingClock:
    return TravellingClock()


@pytest.fixture
def new_instance(
    settings: Settings, database_url: str, service_database_url: str, clock: TravellingClock
) -> Callable[[], web.Application]:
    """Builds an instance of the service on this test's database; a test that needs two
    (as behind a load balancer) calls it twice."""

    def build() -> web.Application:
        # As deployed: the service connects as its own role, migrations run as the owner.
        built = create_app(settings, service_database_url, owner_url=database_url)
        built[CLOCK] = clock
        # Cheap password hashing and short throttling delays keep the suite fast; the real
        # defaults are tested in tests/unit.
        built[AUTH_POLICY] = TEST_POLICY
        return built

    return build


@pytest.fixture
def app(new_instance: Callable[[], web.Application]) -> web.Application:
    return new_instance()


@pytest.fixture
async def client(app: web.Application, aiohttp_client: AiohttpClient) -> Client:
    """A client of the running app.

    Depending on ``app`` (hence on the database) makes pytest stop the app before it drops
    the database. A test that builds its own app must likewise ask for its database
    fixture before ``aiohttp_client``.
    """
    return await aiohttp_client(app)


@pytest.fixture
async def second_instance(
    new_instance: Callable[[], web.Application], aiohttp_client: AiohttpClient
) -> Client:
    """Another instance of the service on the same database, as behind a load balancer."""
    return await aiohttp_client(new_instance())


# Routes that some tests add to the app to provoke errors or slow answers. The policy
# refuses any route it has no rule for, so these are declared open, for tests only.
TEST_ONLY_ROUTES = [
    ("POST", "/test/raise/{kind}"),
    ("POST", "/test/disclosures"),
    ("GET", "/test/redirect"),
    ("GET", "/test/log-context"),
    ("GET", "/test/slow"),
]


@pytest.fixture(autouse=True)
def open_test_only_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    for method, path in TEST_ONLY_ROUTES:
        monkeypatch.setitem(ROUTE_RULES, (method, path), Rule.PUBLIC)
