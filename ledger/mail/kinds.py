"""The kinds of notice a member may be told of by mail, and how soon.

They are the webhook catalogue's types (ledger/webhooks/catalogue.py decides whom each
event concerns, for webhooks and mail alike; tests/unit/test_mail_kinds.py holds the two
lists together), each said here in plain words for people rather than programs. Every
kind is sent at once, gathered into the daily digest, or not mailed at all, as the member
chooses. By default what waits for the member (an answer, a
review, an acknowledgement, a commitment to keep or mark) and what happened to trust (a
breach told or changed, an agreement ended) is sent at once; the rest goes in the digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Choice = Literal["now", "digest", "never"]
CHOICES: tuple[Choice, ...] = get_args(Choice)

NoticeKind = Literal[
    "proposal.awaiting_consent",
    "proposal.closed",
    "agreement.ratified",
    "agreement.ended",
    "agreement.review_due",
    "disclosure.shared_with_you",
    "breach.reported",
    "breach.updated",
    "repair.step",
    "commitment.due",
    "member.joined",
    "member.left",
]

# Each kind in the words a mail uses, after "Something in one of your polycules needs
# you: ". Never a name, a title or anything a member wrote.
PLAIN_WORDS: dict[str, str] = {
    "proposal.awaiting_consent": "a proposal waits for your answer",
    "proposal.closed": "a proposal you were a party to was closed",
    "agreement.ratified": "an agreement you are a party to came into force",
    "agreement.ended": "an agreement you were a party to ended",
    "agreement.review_due": "an agreement you are a party to is due for review",
    "disclosure.shared_with_you": "something was disclosed to you",
    "breach.reported": "a breach of an agreement was told",
    "breach.updated": "there is news of a breach you can see",
    "repair.step": "a step was taken in a repair you take part in",
    "commitment.due": "a repair commitment is due, to keep or to mark",
    "member.joined": "someone joined one of your polycules",
    "member.left": "someone left one of your polycules",
}

DEFAULTS: dict[str, Choice] = {
    "proposal.awaiting_consent": "now",
    "proposal.closed": "digest",
    "agreement.ratified": "digest",
    "agreement.ended": "now",
    "agreement.review_due": "now",
    "disclosure.shared_with_you": "now",
    "breach.reported": "now",
    "breach.updated": "now",
    "repair.step": "digest",
    "commitment.due": "now",
    "member.joined": "digest",
    "member.left": "digest",
}

KINDS: tuple[str, ...] = get_args(NoticeKind)

def choice_of(kind: str, chosen: Mapping[str, str]) -> Choice:
    """What the member chose for ``kind`` (as stored), or its default."""
    value = chosen.get(kind)
    for choice in CHOICES:
        if value == choice:
            return choice
    # A kind the catalogue grew and this list has not: gathered, never lost nor pressing.
    return DEFAULTS.get(kind, "digest")


def page_of(api_link: str) -> str:
    """The web client's page for a notice's API link: the API's path without ``/api``; a
    repair is shown on its breach's page, the members on the polycule's."""
    path = api_link.removeprefix("/api")
    for part in ("/repair", "/members"):
        path = path.removesuffix(part)
    return path
