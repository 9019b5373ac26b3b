"""The clarity check: words people read differently must carry a definition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.agreements import AgreementText, Definition
from ledger.domain.clarity import FUZZY_WORDS, forms_used, fuzzy_words


def flagged(text: str, *defined: str) -> tuple[str, ...]:
    return fuzzy_words([text], defined)


@pytest.mark.parametrize("word", FUZZY_WORDS)
def test_every_listed_word_is_flagged_when_undefined(word: str) -> None:
    assert flagged(f"We agree that {word}, as we said, matters.") == (word,)


@pytest.mark.parametrize(
    ("used", "listed"),
    [
        ("partners", "partner"),
        ("partner's", "partner"),
        ("partner\u2019s", "partner"),
        ("partnered", "partner"),
        ("dating", "dating"),
        ("dates", "date"),
        ("dated", "date"),
        ("flirting", "flirt"),
        ("flirted", "flirt"),
        ("flirts", "flirt"),
        ("told", "told"),
        ("telling", "tell"),
        ("tells", "tell"),
        ("sexes", "sex"),
        ("loves", "love"),
        ("loved", "love"),
        ("loving", "love"),
        ("feeling", "feelings"),
        ("sleepovers", "sleepover"),
        ("overnights", "overnight"),
        ("kissed", "kiss"),
        ("kisses", "kiss"),
        ("kissing", "kiss"),
        ("cheat", "cheating"),
        ("cheated", "cheating"),
        ("cheats", "cheating"),
        ("Never", "never"),
    ],
)
def test_inflections_are_flagged_as_their_listed_word(used: str, listed: str) -> None:
    assert flagged(f"No {used} without asking.") == (listed,)


@pytest.mark.parametrize("text", ["SEX", "Sex", "sEx", "Partners", "DATING"])
def test_the_check_ignores_case(text: str) -> None:
    assert len(flagged(text)) == 1


@pytest.mark.parametrize(
    ("used", "defined"),
    [
        ("sex", "sex"),
        ("sex", "SEX"),
        ("Partner", "partner"),
        ("partner", "Partners"),
        ("partners", "partner"),
        ("flirting", "flirts"),
        ("dates", "DATE"),
        ("dating", "date"),
        ("date", "dating"),
        ("told", "tell"),
        ("telling", "told"),
        ("loving", "love"),
        ("feeling", "feelings"),
        ("feelings", "Feeling"),
        ("sleepover", " sleepover "),
    ],
)
def test_a_definition_of_the_word_or_an_inflection_clears_it(used: str, defined: str) -> None:
    assert flagged(f"We {used} openly.", defined) == ()


def test_a_definition_covers_only_its_own_word() -> None:
    assert flagged("A date with a new partner", "date") == ("partner",)
    assert flagged("Safe sex", "sex") == ("safe",)


@pytest.mark.parametrize(
    "text",
    [
        "sextant", "Sussex", "Essex", "update", "updated", "mandate", "glove", "lovely",
        "hotel", "intimacy", "partnership", "unsafe", "seriously", "protect", "data",
    ],
)
def test_words_inside_other_words_are_not_flagged(text: str) -> None:
    assert flagged(text) == ()


@pytest.mark.parametrize("text", ["(sex)", "sex-positive", "sex2", "\"sex\"", "sex_ed"])
def test_anything_but_a_letter_separates_words(text: str) -> None:
    assert flagged(text) == ("sex",)


@pytest.mark.parametrize("field", ["title", "terms", "if_broken"])
def test_the_agreed_text_is_checked_in_title_terms_and_if_broken(field: str) -> None:
    fields = {"title": "Evenings", "terms": "Home by ten.", "if_broken": "", field: "No sex"}
    text = AgreementText(**fields)

    assert text.fuzzy_words() == ("sex",)
    defined = text.model_copy(update={"definitions": (Definition(word="Sex", meaning="…"),)})
    assert defined.fuzzy_words() == ()


def test_the_wording_of_a_definition_is_not_itself_checked() -> None:
    text = AgreementText(
        title="Overnights",
        terms="Overnight stays are planned together.",
        definitions=(Definition(word="overnight", meaning="sleeping over after a date or sex"),),
    )

    assert text.fuzzy_words() == ()


def test_words_are_reported_once_in_the_order_of_the_list() -> None:
    text = "Love, sex and dates with a partner; sex again; safe overnight sleepover."

    assert flagged(text) == ("sex", "date", "partner", "overnight", "sleepover", "safe",
                             "love")
    assert fuzzy_words(["love", "sex"], []) == fuzzy_words(["sex love"], [])


# --- Properties --------------------------------------------------------------------------


listed_or_inflected = st.sampled_from(FUZZY_WORDS).flatmap(
    lambda word: st.sampled_from([word, word + "s", word.upper(), word.capitalize()])
)
plain_words = st.sampled_from([
    "we", "agree", "to", "call", "each", "other", "weekly", "kitchen", "sextant", "update",
    "Sussex", "glove", "mandate", "hotel", "intimacy", "unsafe", "seriously", "partnership",
    "protect", "brunch", "text", "before", "after", "home", "by", "ten", "ask", "first",
])
separators = st.sampled_from([" ", ", ", ". ", "\n", " — ", "; ", "!", "(", ")"])
sentences = st.lists(st.tuples(st.one_of(plain_words, listed_or_inflected), separators),
                     max_size=30).map(lambda pairs: "".join(w + s for w, s in pairs))


@given(texts=st.lists(st.one_of(sentences, st.text()), max_size=3))
def test_defining_every_listed_word_leaves_nothing_fuzzy(texts: list[str]) -> None:
    assert fuzzy_words(texts, FUZZY_WORDS) == ()


@given(text=st.lists(st.tuples(plain_words, st.booleans(), separators), max_size=30).map(
    lambda words: "".join((w.upper() if loud else w) + s for w, loud, s in words)
))
def test_text_without_listed_words_is_never_fuzzy(text: str) -> None:
    assert flagged(text) == ()


@given(text=sentences, defined=st.lists(st.one_of(listed_or_inflected, plain_words),
                                         max_size=5))
def test_a_definition_only_ever_clears_words(text: str, defined: list[str]) -> None:
    undefined = flagged(text)
    remaining = flagged(text, *defined)

    assert set(remaining) <= set(undefined)
    assert list(remaining) == [word for word in FUZZY_WORDS if word in remaining]


def test_the_forms_used_are_each_word_as_the_draft_writes_it() -> None:
    texts = ["Partners first; a partner's word.", "We KISSED, and kiss again; no sextant."]
    words = fuzzy_words(texts, [])

    assert words == ("partner", "kiss")
    assert forms_used(texts, words) == {
        "partner": ("partners", "partner's"), "kiss": ("kissed", "kiss"),
    }


@given(
    st.sampled_from(FUZZY_WORDS),
    st.sampled_from(["", "s", "ed", "ing", "'s"]),
    st.lists(plain_words, max_size=6),
    st.booleans(),
)
def test_every_flagged_word_is_found_as_written(
    word: str, suffix: str, others: list[str], capitalised: bool
) -> None:
    """Whatever the check flags, it also says how the text writes it: a page highlights
    exactly the flagged words, inflected or not, and nothing else."""
    written = word + suffix
    written = written.capitalize() if capitalised else written
    text = " ".join([*others, written, *others])
    flagged_words = fuzzy_words([text], [])
    forms = forms_used([text], flagged_words)

    assert set(forms) == set(flagged_words)
    for listed, found in forms.items():
        assert found, listed
        assert all(form in text.lower() for form in found)
    if word in flagged_words:
        assert written.lower() in forms[word]
