"""Every kind of notice a member can be told of by webhook can be mailed too: worded in
plain words for people, and given a default."""

from __future__ import annotations

from ledger.mail.kinds import DEFAULTS, KINDS, PLAIN_WORDS, choice_of, page_of
from ledger.webhooks.catalogue import WEBHOOK_TYPES


def test_the_mail_kinds_are_the_webhook_catalogues_types_each_worded_with_a_default() -> None:
    assert set(KINDS) == set(WEBHOOK_TYPES)
    assert set(PLAIN_WORDS) == set(KINDS) == set(DEFAULTS)


def test_what_awaits_the_member_is_mailed_at_once_and_the_rest_in_the_digest() -> None:
    assert choice_of("proposal.awaiting_consent", {}) == "now"
    assert choice_of("breach.reported", {}) == "now"
    assert choice_of("member.joined", {}) == "digest"
    assert choice_of("member.joined", {"member.joined": "never"}) == "never"


def test_a_notice_links_to_the_page_that_shows_it() -> None:
    base = "/api/polycules/p"
    assert page_of(f"{base}/proposals/x") == "/polycules/p/proposals/x"
    assert page_of(f"{base}/breaches/b/repair") == "/polycules/p/breaches/b"
    assert page_of(f"{base}/members") == "/polycules/p"
