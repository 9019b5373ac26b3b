"""Settings read from the environment, checked at start (ledger/config.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from ledger.__main__ import build_parser
from ledger.config import ConfigurationError, Role, Settings, load_settings
from ledger.http.account_routes import AuthPolicy


def test_no_proxy_is_trusted_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_TRUSTED_PROXIES", raising=False)

    assert load_settings().trusted_proxies == ()


def test_trusted_proxies_are_addresses_or_networks_separated_by_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16,::1")

    assert load_settings().trusted_proxies == (
        ip_network("10.0.0.5/32"), ip_network("10.1.0.0/16"), ip_network("::1/128"),
    )


@pytest.mark.parametrize("value", ["proxy.internal", "10.0.0.5/8", "10.0.0.300"])
def test_a_malformed_proxy_stops_the_service_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LEDGER_TRUSTED_PROXIES", value)

    with pytest.raises(ConfigurationError, match="LEDGER_TRUSTED_PROXIES"):
        load_settings()


def test_sign_ups_per_address_default_to_ten_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR", raising=False)
    assert load_settings().sign_ups_per_address_per_hour == 10

    monkeypatch.setenv("LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR", "0")
    with pytest.raises(ConfigurationError, match="LEDGER_SIGN_UPS_PER_ADDRESS_PER_HOUR"):
        load_settings()


def test_the_sign_up_limit_reaches_the_accounts_policy() -> None:
    policy = AuthPolicy.from_settings(Settings(sign_ups_per_address_per_hour=3))

    assert policy.sign_up.per_address == 3


def test_an_instance_is_web_and_worker_at_once_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGER_ROLE", raising=False)
    role = load_settings().role

    assert role is Role.ALL and role.serves_http and role.runs_consumers


def test_a_role_is_web_or_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_ROLE", "web")
    web = load_settings().role
    monkeypatch.setenv("LEDGER_ROLE", "worker")
    worker = load_settings().role

    assert (web.serves_http, web.runs_consumers) == (True, False)
    assert (worker.serves_http, worker.runs_consumers) == (False, True)


def test_an_unknown_role_stops_the_service_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_ROLE", "scheduler")

    with pytest.raises(ConfigurationError, match="LEDGER_ROLE"):
        load_settings()


def test_the_command_line_role_is_one_of_the_three() -> None:
    parser = build_parser()

    assert parser.parse_args(["serve", "--role", "worker"]).role == "worker"
    assert parser.parse_args(["serve"]).role is None  # LEDGER_ROLE then decides
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--role", "fanout"])


def test_the_listening_connections_go_where_the_pool_goes_unless_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ledger_app@pgbouncer:6432/ledger")
    monkeypatch.delenv("LEDGER_LISTEN_DATABASE_URL", raising=False)
    monkeypatch.delenv("LEDGER_STATEMENT_CACHE_SIZE", raising=False)
    assert load_settings().listen_database_url is None
    assert load_settings().statement_cache_size == 100

    monkeypatch.setenv("LEDGER_LISTEN_DATABASE_URL", "postgresql://ledger_app@db1:5432/ledger")
    monkeypatch.setenv("LEDGER_STATEMENT_CACHE_SIZE", "0")
    settings = load_settings()
    assert settings.listen_database_url == "postgresql://ledger_app@db1:5432/ledger"
    assert settings.statement_cache_size == 0


def test_a_listening_url_without_a_database_url_stops_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("LEDGER_LISTEN_DATABASE_URL", "postgresql://ledger_app@db1:5432/ledger")

    with pytest.raises(ConfigurationError, match="LEDGER_LISTEN_DATABASE_URL"):
        load_settings()


def test_a_negative_statement_cache_stops_the_service_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_STATEMENT_CACHE_SIZE", "-1")

    with pytest.raises(ConfigurationError, match="LEDGER_STATEMENT_CACHE_SIZE"):
        load_settings()


def test_several_hosts_name_the_primary_wherever_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://ledger_app@db1:5432,db2:5432/ledger?target_session_attrs=read-write"
    monkeypatch.setenv("DATABASE_URL", url)

    assert load_settings().database_url == url
