"""What makes a new password acceptable, after NIST SP 800-63B (section 3.1.1.2).

Length is what makes a password hard to guess, so that is the rule: at least
``MIN_PASSWORD_LENGTH`` characters (up to ``MAX_PASSWORD_LENGTH``, any characters at all;
a passphrase of a few unrelated words is the easy way there). No rules about mixing
letters, digits and symbols: they make passwords harder to remember, not to guess.

A new password is also checked against the values a guesser tries first, and refused with
a message saying why:

* the most common passwords, and common words and names: the frequency lists of the
  ``zxcvbn`` package (passwords seen most often in leaks; English words, first names and
  surnames; words from TV and film), compared ignoring case, spaces and separators, and
  digits or punctuation merely added before or after ("Baseball2019!" is "baseball");
* one character, or one short run of characters, repeated ("aaaaaaaaaa", "abcabcabcabc");
* words of this very context, likewise: the person's handle or name, the service's name.

Passwords already set are never checked again: the rules apply when one is chosen.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pydantic_core import PydanticCustomError

MIN_PASSWORD_LENGTH = 10
# Argon2 accepts any length; a bound keeps one request from buying a long hashing job.
MAX_PASSWORD_LENGTH = 1024

# Words anyone guessing at this service would try: its own name, as people write it.
SERVICE_WORDS = ("polycule ledger", "polyculeledger", "polycule", "ledger")

# Which of zxcvbn's lists are checked (all it ships, in fact): each is a list of words
# ordered by how often they are seen.
_COMMON_LISTS = (
    "passwords", "english_wikipedia", "us_tv_and_film", "female_names", "male_names",
    "surnames",
)
_REPEATED = re.compile(r"(.{1,4}?)\1+", re.DOTALL)
_SPACES = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\W_]+")
# Digits, punctuation and spaces put before or after a word to pass a length rule.
_LEADING = re.compile(r"^[\W\d_]+")
_TRAILING = re.compile(r"[\W\d_]+$")
# A shorter common word left once those are taken away is no reason to refuse a password.
_SHORTEST_COMMON_CORE = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """Every value of the lists, lowercased (read once, when first needed)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # large: imported when needed

    return frozenset(
        word.lower()
        for name in _COMMON_LISTS
        for word in FREQUENCY_LISTS[name]
    )


def _normalised(text: str) -> str:
    return _SPACES.sub(" ", text.strip()).casefold()


def _forms(text: str, shortest_core: int) -> set[str]:
    """The ways a text may be a known word: as typed (case and spacing aside), without its
    spaces or without any separator ("rosalind-franklin" is "rosalindfranklin"), and
    without what was added before it, after it, or both."""
    normalised = _normalised(text)
    forms = {normalised}
    leading_gone = _LEADING.sub("", normalised)
    for core in (leading_gone, _TRAILING.sub("", normalised), _TRAILING.sub("", leading_gone)):
        if len(core) >= shortest_core:
            forms.add(core)
    return (
        forms
        | {form.replace(" ", "") for form in forms}
        | {_SEPARATORS.sub("", form) for form in forms}
    )


def length_problem(password: str, minimum: int = MIN_PASSWORD_LENGTH) -> PydanticCustomError | None:
    if minimum <= len(password) <= MAX_PASSWORD_LENGTH:
        return None
    return PydanticCustomError(
        "password_length",
        "a password has {minimum} to {maximum} characters",
        {"minimum": minimum, "maximum": MAX_PASSWORD_LENGTH},
    )


def guessable_problem(password: str) -> PydanticCustomError | None:
    """Why a new password is among the first a guesser would try, if it is."""
    if not _forms(password, _SHORTEST_COMMON_CORE).isdisjoint(common_passwords()):
        return PydanticCustomError(
            "password_common",
            "this password is one of the most common ones (or a common word or name on its "
            "own), which are the first to be guessed; choose another — a few unrelated words "
            "make a good password",
        )
    if _REPEATED.fullmatch(_normalised(password)):
        return PydanticCustomError(
            "password_repetitive",
            "this password repeats the same few characters, which makes it easy to guess; "
            "choose another — a few unrelated words make a good password",
        )
    return None


def context_problem(password: str, context: Iterable[str]) -> PydanticCustomError | None:
    """Why a new password is guessable from who chooses it, if it is: it is their handle or
    name, or the service's name (in any of the forms ``_forms`` gives)."""
    forms = _forms(password, 1)
    for word in (*context, *SERVICE_WORDS):
        if word.strip() and not forms.isdisjoint(_forms(word, 1)):
            return PydanticCustomError(
                "password_context",
                "this password is your handle or your name, or the name of this service, "
                "which anyone would try first; choose another",
            )
    return None
