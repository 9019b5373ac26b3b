"""The rules of accounts, sessions, tokens and throttling that need no database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.auth.accounts import NewAccount
from ledger.auth.sessions import DEFAULT_SESSION_LIFETIME, csrf_token_for, session_token_hash
from ledger.auth.throttle import (
    Failures,
    Limit,
    SignUpPolicy,
    ThrottlePolicy,
    address_key,
    delay_for,
    handle_at_address_key,
    handle_key,
    judge,
)
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

    assert [delay_for(failures, 5, policy) for failures in range(11)] == [
        0, 0, 0, 0, 0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0,
    ]


def test_a_throttle_must_slow_down_before_it_refuses() -> None:
    with pytest.raises(ValueError):
        Limit(slow_after=11, refuse_after=10)


def test_the_default_thresholds() -> None:
    policy = ThrottlePolicy()

    assert policy.window == timedelta(minutes=15)
    assert policy.per_address == Limit(slow_after=10, refuse_after=30)
    assert policy.per_handle_at_address == Limit(slow_after=5, refuse_after=10)
    assert policy.per_handle_slow_after == 5
    assert SignUpPolicy() == SignUpPolicy(window=timedelta(hours=1), per_address=10)


failures = st.integers(min_value=0, max_value=10_000)


@given(handle=failures, address=failures, handle_at_address=failures)
def test_only_an_addresss_own_failures_ever_refuse_it(
    handle: int, address: int, handle_at_address: int
) -> None:
    policy = ThrottlePolicy()

    verdict = judge(Failures(address, handle_at_address, handle), policy)

    assert verdict.refused == (
        address >= policy.per_address.refuse_after
        or handle_at_address >= policy.per_handle_at_address.refuse_after
    )


@given(handle=failures)
def test_guessing_from_elsewhere_slows_the_owner_down_but_never_refuses_them(
    handle: int,
) -> None:
    policy = ThrottlePolicy()

    verdict = judge(Failures(address=0, handle_at_address=0, handle=handle), policy)

    assert not verdict.refused
    assert 0 <= verdict.delay_seconds <= policy.max_delay_seconds
    assert (verdict.delay_seconds > 0) == (handle >= policy.per_handle_slow_after)


@given(before=st.tuples(failures, failures, failures), more=st.tuples(failures, failures, failures))
def test_more_failures_never_make_guessing_cheaper(
    before: tuple[int, int, int], more: tuple[int, int, int]
) -> None:
    policy = ThrottlePolicy()
    after = tuple(b + m for b, m in zip(before, more, strict=True))

    earlier, later = judge(Failures(*before), policy), judge(Failures(*after), policy)

    assert later.refused or not earlier.refused
    assert later.refused or later.delay_seconds >= earlier.delay_seconds


def test_a_handles_count_stops_where_its_delay_stops_growing() -> None:
    policy = ThrottlePolicy()
    enough = policy.handle_failures_that_matter()

    assert delay_for(enough, policy.per_handle_slow_after, policy) == policy.max_delay_seconds
    assert delay_for(enough - 1, policy.per_handle_slow_after, policy) < policy.max_delay_seconds


def test_handles_are_throttled_whatever_their_case() -> None:
    assert handle_key("Robin") == handle_key("robin")
    assert handle_at_address_key("Robin", "192.0.2.7") == handle_at_address_key(
        "robin", "::ffff:192.0.2.7"
    ) == "handle-at-address:robin@192.0.2.7"


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
