"""The record page's paging: walking "Older" from the latest page, and "Newer" from the
first, shows every entry exactly once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.web.audit_pages import PAGE_SIZE, page_window


def shown(after: int, limit: int, head: int) -> list[int]:
    return list(range(after + 1, min(after + limit, head) + 1))


@given(st.integers(min_value=1, max_value=6 * PAGE_SIZE))
def test_older_pages_cover_every_entry_once(head: int) -> None:
    seen: list[int] = []
    page = shown(*page_window(None, None, head), head)
    while True:
        assert page and len(page) <= PAGE_SIZE
        seen = page + seen
        if page[0] == 1:
            break
        page = shown(*page_window(None, str(page[0]), head), head)

    assert seen == list(range(1, head + 1))


@given(st.integers(min_value=1, max_value=6 * PAGE_SIZE))
def test_newer_pages_cover_every_entry_once(head: int) -> None:
    seen: list[int] = []
    after = 0
    while after < head:
        page = shown(*page_window(str(after), None, head), head)
        seen += page
        after = page[-1]

    assert seen == list(range(1, head + 1))


def test_an_address_that_is_not_a_number_opens_the_latest_page() -> None:
    assert page_window("soon", "x", 120) == (70, 50)
