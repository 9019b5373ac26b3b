"""Settings read from the environment, checked at start (ledger/config.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from ledger.config import ConfigurationError, Settings, load_settings
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
