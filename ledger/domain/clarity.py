"""The clarity check: words that people are known to read differently must be defined.

"No sex with others" meant one thing to one partner and another to the other: that is one
of the recurring ways trust breaks (docs/domain.md#the-clarity-check). A proposal whose
agreed text uses one of these words without defining it is flagged as fuzzy before anyone
consents. Flagging informs; it never blocks a proposal.

The list lives here and only here: the API, the web client's live check and the tests all
ask this module.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Words known to be read differently: the ones people fall out over, about bodies ("sex",
# "kiss", "protection"), about standing ("partner", "serious", "casual", "cheating"), and
# about time ("overnight", "soon", "always", "never"). Each is matched with its common
# inflections ("partners", "kissed", "cheated"; "told" is listed on its own).
FUZZY_WORDS: tuple[str, ...] = (
    "sex",
    "sexual",
    "intimate",
    "date",
    "dating",
    "serious",
    "partner",
    "tell",
    "told",
    "overnight",
    "sleepover",
    "safe",
    "protection",
    "flirt",
    "feelings",
    "love",
    "kiss",
    "cheating",
    "casual",
    "soon",
    "always",
    "never",
)

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
# Longest first, so "dates" loses "s" rather than nothing, and "flirting" loses "ing".
_SUFFIXES = ("'s", "\u2019s", "ing", "ed", "es", "s", "d")


# Inflections the suffixes cannot reach are listed on their own; they are the same word,
# so a definition of either covers both ("date" defines "dating", "told" defines "tell").
_SAME_WORD = {"dating": "date", "told": "tell"}


def _forms_of(token: str, *, restore_e: bool = False) -> set[str]:
    """The token itself and the stems it could be an inflection of; with ``restore_e``,
    also the stem that lost its "e" before "ing" ("loving" is a form of "love")."""
    forms = {token}
    for suffix in _SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            forms.add(token[: -len(suffix)])
            if restore_e and suffix == "ing":
                forms.add(token[: -len(suffix)] + "e")
    return forms


_LISTED_FORMS = {word: _forms_of(word) for word in FUZZY_WORDS}


# Every agreement read shows its clarity check, so each distinct word is looked up once.
@functools.lru_cache(maxsize=65_536)
def _listed_word_for(token: str) -> str | None:
    """The listed word a token is a form of: the one sharing the longest form with it
    ("dated" is a form of "date", not of "dating")."""
    forms = _forms_of(token, restore_e=True)
    best: tuple[int, str] | None = None
    for word, listed_forms in _LISTED_FORMS.items():
        shared = forms & listed_forms
        if shared:
            score = max(len(form) for form in shared)
            if best is None or score > best[0]:
                best = (score, word)
    return best[1] if best else None


def _listed_words_in(text: str) -> set[str]:
    found: set[str] = set()
    for match in _WORD.finditer(text.lower()):
        word = _listed_word_for(match.group())
        if word is not None:
            found.add(word)
    return found


def fuzzy_words(agreed_texts: Iterable[str], defined_words: Iterable[str]) -> tuple[str, ...]:
    """The listed words used in ``agreed_texts`` that no definition covers, in list order.

    A definition covers a listed word when the defined word is that word or one of its
    inflections ("partners" defines "partner", "date" defines "dating").
    """
    used: set[str] = set()
    for text in agreed_texts:
        used |= _listed_words_in(text)
    defined: set[str] = set()
    for word in defined_words:
        defined |= {_SAME_WORD.get(listed, listed) for listed in _listed_words_in(word)}
    return tuple(
        word
        for word in FUZZY_WORDS
        if word in used and _SAME_WORD.get(word, word) not in defined
    )


def forms_used(agreed_texts: Iterable[str], words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """How each of ``words`` (listed words) is written in ``agreed_texts``: every form of it
    found there, lowercased, in the order first met ("partner": "partners", "partner's").
    What a page highlights is then exactly what the check found, inflections included."""
    forms: dict[str, dict[str, None]] = {word: {} for word in words}
    for text in agreed_texts:
        for match in _WORD.finditer(text.lower()):
            word = _listed_word_for(match.group())
            if word in forms:
                forms[word][match.group()] = None
    return {word: tuple(found) for word, found in forms.items()}
