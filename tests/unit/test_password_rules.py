"""Which new passwords are refused, and why (ledger/auth/password_rules.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.auth.accounts import NewAccount, PasswordChange
from ledger.auth.password_rules import (
    MIN_PASSWORD_LENGTH,
    common_passwords,
    context_problem,
    guessable_problem,
)

VALID: dict[str, Any] = {
    "handle": "robin", "display_name": "Robin Hood", "password": "correct horse battery staple",
}


def refusal(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    with pytest.raises(ValidationError) as raised:
        NewAccount.model_validate(body)
    return [
        (tuple(error["loc"]), error["type"], error["msg"]) for error in raised.value.errors()
    ]


@pytest.mark.parametrize(
    "password",
    ["password123", "qwertyuiop", "1234567890", "iloveyou12", "Password1234", "baseball2019!",
     "  Manchester  ", "PRINCESS-123", "Basketball"],
)
def test_a_common_password_is_refused_saying_why(password: str) -> None:
    [(loc, kind, message)] = refusal({**VALID, "password": password})

    assert (loc, kind) == (("password",), "password_common")
    assert "most common" in message and "a few unrelated words" in message


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababab", "xyzxyzxyzxyz", "!!!!!!!!!!"])
def test_a_password_repeating_a_few_characters_is_refused(password: str) -> None:
    [(loc, kind, message)] = refusal({**VALID, "password": password})

    assert (loc, kind) == (("password",), "password_repetitive")
    assert "repeats" in message


@pytest.mark.parametrize(
    ("change", "password"),
    [
        ({"handle": "sunflower_field"}, "Sunflower_Field"),
        ({"handle": "sunflower_field"}, "sunflower_field2024"),
        ({"display_name": "Alexandrina Bell"}, "alexandrinabell"),
        ({"display_name": "Alexandrina Bell"}, "Alexandrina Bell!!"),
        ({}, "PolyculeLedger"),
        ({}, "polycule ledger 2024"),
    ],
)
def test_ones_own_handle_or_name_or_the_services_is_refused(
    change: dict[str, str], password: str
) -> None:
    [(loc, kind, message)] = refusal({**VALID, **change, "password": password})

    assert (loc, kind) == (("password",), "password_context")
    assert "your handle or your name" in message


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "ten chars!", "x9$kf#2mzq", "Tr0ub4dor&3 and a kettle",
     "sunflowers hum at noon", "a" * 9 + "b", "1029 brunch ladders"],
)
def test_long_enough_uncommon_passwords_are_accepted(password: str) -> None:
    account = NewAccount.model_validate({**VALID, "password": password})

    assert account.password.get_secret_value() == password


def test_length_comes_first_and_no_password_is_ever_echoed() -> None:
    [(loc, kind, _message)] = refusal({**VALID, "password": "password"})
    assert (loc, kind) == (("password",), "password_length")

    with pytest.raises(ValidationError) as raised:
        NewAccount.model_validate({**VALID, "password": "password123"})
    assert "password123" not in str(raised.value)


def test_a_changed_password_follows_the_same_rules() -> None:
    with pytest.raises(ValidationError) as raised:
        PasswordChange.model_validate(
            {"current_password": "anything at all", "new_password": "qwertyuiop"}
        )

    assert [(e["loc"], e["type"]) for e in raised.value.errors()] == [
        (("new_password",), "password_common")
    ]


# Words, that is, beginning and ending with a letter: digits added to "abc123" or to
# "1qaz2wsx" cannot be told from the word's own.
LONG_COMMON = sorted(
    word for word in common_passwords()
    if len(word) >= MIN_PASSWORD_LENGTH and word[0].isalpha() and word[-1].isalpha()
)


@given(
    word=st.sampled_from(LONG_COMMON),
    upper=st.lists(st.booleans(), min_size=64, max_size=64),
    before=st.text(alphabet="0123456789!?.#-_ ", max_size=3),
    after=st.text(alphabet="0123456789!?.#-_ ", max_size=4),
)
def test_a_common_word_stays_common_whatever_case_or_digits_dress_it(
    word: str, upper: list[bool], before: str, after: str
) -> None:
    dressed = "".join(
        letter.upper() if flip else letter for letter, flip in zip(word, upper, strict=False)
    ) + word[len(upper):]

    problem = guessable_problem(before + dressed + after)

    assert problem is not None and problem.type == "password_common"


@given(handle=st.from_regex(r"[a-z][a-z0-9_.-]{9,31}", fullmatch=True),
       digits=st.text(alphabet="0123456789", max_size=4))
def test_ones_handle_with_digits_after_it_is_never_a_new_password(
    handle: str, digits: str
) -> None:
    assert context_problem(handle.upper() + digits, [handle]) is not None
