"""The rules of accounts, sessions, tokens and throttling that need no database."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ledger.auth.accounts import NewAccount
from ledger.auth.sessions import DEFAULT_SESSION_LIFETIME, csrf_token_for, session_token_hash
from ledger.auth.throttle import ThrottlePolicy, address_key, delay_for, handle_key
from ledger.auth.tokens import looks_like_api_token, new_api_token

VALID: dict[str, Any] = {
    "handle": "robin", "display_name": "Robin", "password": "correct horse battery staple",
}


def problems(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as raised:
        NewAccount.model_validate(body)
    return [(tuple(error["loc"]), error["type"]) for error in raised.value.errors()]


def test_a_handle_is_kept_lowercased() -> None:
    account = NewAccount.model_validate({**VALID, "handle": "Robin.Of-The_Woods"})

    assert account.handle == "robin.of-the_woods"


FULLWIDTH_ROBIN = "\uff52\uff4f\uff42\uff49\uff4e"


@pytest.mark.parametrize(
    "handle", ["ro", "r" * 33, "robin hood", "robin!", "röbin", FULLWIDTH_ROBIN, "", "robin\n"]
)
def test_a_handle_is_3_to_32_of_a_z_0_9_dot_dash_underscore(handle: str) -> None:
    assert problems({**VALID, "handle": handle}) == [(("handle",), "handle_invalid")]


@pytest.mark.parametrize("handle", ["rob", "r" * 32, "0_0", "a.b-c"])
def test_handles_at_the_edges_of_the_rules_are_accepted(handle: str) -> None:
    assert NewAccount.model_validate({**VALID, "handle": handle}).handle == handle


def test_a_display_name_is_trimmed_and_1_to_80_characters() -> None:
    assert NewAccount.model_validate({**VALID, "display_name": " Robin "}).display_name == "Robin"
    assert NewAccount.model_validate({**VALID, "display_name": "R" * 80}).display_name == "R" * 80
    for bad in ("", "   ", "R" * 81):
        assert [loc for loc, _ in problems({**VALID, "display_name": bad})] == [("display_name",)]


def test_a_password_has_at_least_ten_characters_and_never_shows() -> None:
    assert problems({**VALID, "password": "nine char"}) == [(("password",), "password_length")]
    account = NewAccount.model_validate({**VALID, "password": "ten chars!"})

    assert account.password.get_secret_value() == "ten chars!"
    assert "ten chars!" not in repr(account) and "ten chars!" not in str(account)


def test_an_unknown_field_is_refused_by_name() -> None:
    assert problems({**VALID, "is_admin": True}) == [(("is_admin",), "extra_forbidden")]


def test_sessions_last_fourteen_days_by_default() -> None:
    assert DEFAULT_SESSION_LIFETIME.days == 14


def test_a_csrf_token_belongs_to_one_session_and_is_not_its_stored_hash() -> None:
    token = "a-session-token"

    assert csrf_token_for(token) == csrf_token_for(token)
    assert csrf_token_for(token) != csrf_token_for("another-session-token")
    assert token not in csrf_token_for(token)
    assert session_token_hash(token).hex() not in csrf_token_for(token)


def test_api_tokens_are_recognisable_and_unguessable() -> None:
    first, second = new_api_token(), new_api_token()

    assert first.startswith("pal_") and first != second
    assert len(first) >= 4 + 43  # 32 random bytes in URL-safe base64
    assert looks_like_api_token(first)
    assert not looks_like_api_token("a-session-token")


def test_delays_start_after_five_failures_double_and_are_capped() -> None:
    policy = ThrottlePolicy()

    assert [delay_for(failures, policy) for failures in range(11)] == [
        0, 0, 0, 0, 0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0,
    ]


def test_a_throttle_must_slow_down_before_it_refuses() -> None:
    with pytest.raises(ValueError):
        ThrottlePolicy(slow_after=11, refuse_after=10)


def test_handles_are_throttled_whatever_their_case() -> None:
    assert handle_key("Robin") == handle_key("robin")


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.7", "address:192.0.2.7"),
        ("::ffff:192.0.2.7", "address:192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "address:2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "address:2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "address:2001:db8:1:3::/64"),
        (None, "address:unknown"),
        ("not an address", "address:unknown"),
    ],
)
def test_addresses_are_throttled_by_host_and_ipv6_by_its_64_prefix(
    remote: str | None, key: str
) -> None:
    assert address_key(remote) == key
