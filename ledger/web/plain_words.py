"""What a person is told when something they sent from a page did not go through: the
API's refusal, said in plain words, each sentence tied to the field it is about.

One table for the whole web client, read by the form pages (ledger/web/browser.py: the
page a browser without script is shown, and the ``plain`` part of the answer the page's
script shows beside each field, ledger/web/static/app.js). The API keeps its own wording,
which is for programs ("the request does not have the expected shape").

A refusal is looked up by its code (``BY_CODE``): a rule of the domain, a refused sign-in,
a form sent from an old page. A field's problem is looked up by the field and the kind of
problem (``BY_PROBLEM``: the field's own line first, then the line for any field); a
problem the table does not know is said in the words of the rule that found it, which are
written for people too (a password's rules, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ANY_FIELD = "*"

# The sentence at the top of the form, by the refusal's code; with a field, said beside it.
BY_CODE: Mapping[str, tuple[str | None, str]] = {
    "validation_failed": (None, "Some of this needs another look: see what is said beside "
                                "each part marked."),
    "csrf_failed": (None, "This form came from a page opened before you last signed in. "
                          "Reload the page, and send it again if it is still what you want."),
    "invalid_credentials": (None, "That handle and password do not match an account."),
    "password_incorrect": (None, "That is not your password: please type it again."),
    "session_required": (None, "This needs you signed in here, in the browser: a program's "
                               "token cannot do it."),
    "handle_taken": ("handle", "Someone already has that handle: please choose another."),
    "too_many_requests": (None, "That was tried too often just now. Please wait a minute, "
                                "then try again."),
    "too_many": (None, "That was tried too often just now. Please wait a minute, then try "
                       "again."),
    "database_unavailable": (None, "The ledger is busy for a moment. Please send it again."),
    "not_ready": (None, "The ledger is starting up. Please send it again in a moment."),
    "internal_error": (None, "Something went wrong on our side. Please try again in a "
                             "moment."),
    "concurrency_conflict": (None, "Someone else changed this at the same moment. Reload the "
                                   "page to see what it says now."),
    "not_found": (None, "That is not there any more: it may have been removed, or not be "
                        "shared with you."),
    "forbidden": (None, "You cannot do that here."),
    "malformed_form": (None, "The form arrived damaged. Please reload the page and send it "
                             "again."),
    "payload_too_large": (None, "That is more than the ledger takes at once: please shorten "
                                "it."),
    "request_entity_too_large": (None, "That is more than the ledger takes at once: please "
                                       "shorten it."),
    "invitation_used": (None, "Someone has already joined with this invitation: each link "
                              "admits one person. Ask for a new one."),
    "invitation_revoked": (None, "This invitation was revoked. Ask for a new one if you "
                                 "still mean to join."),
    "invitation_expired": (None, "This invitation has run out. Ask for a new one."),
    "already_member": (None, "You already belong to this polycule."),
    "invitation_expiry_past": ("expires_in_hours", "Please choose how long the link works."),
    "happened_in_future": ("happened_at", "That moment has not come yet: please give when it "
                                          "happened."),
    "deadline_past": ("respond_by", "Please give a moment still to come."),
    "no_parties": ("parties", "Please choose who this agreement is between."),
    "party_repeated": ("parties", "Each person is chosen once."),
    "recipient_is_discloser": ("audience", "Please choose the people you are telling."),
    "recipient_repeated": ("audience", "Each person is chosen once."),
    "trust_scale": ("trust", "Please choose a number from 0 to 10."),
    "cadence": ("every_days", "Please choose every 1 to 365 days."),
    "review_cadence": ("review_every_days", "Please choose between 1 and 3650 days."),
}

# A field's problem, by (field, kind of problem); ANY_FIELD for any field. The kinds are
# pydantic's (``missing``, ``string_too_long``, …) and the API's own (``control_character``,
# ``handle_invalid``, ``time_zone_unknown``, …).
_A_MOMENT = "Please give a day and a time."
_A_CHOICE = "Please choose one of the options offered."
BY_PROBLEM: Mapping[tuple[str, str], str] = {
    (ANY_FIELD, "missing"): "Please fill this in.",
    (ANY_FIELD, "string_too_short"): "Please fill this in.",
    (ANY_FIELD, "too_short"): "Please choose at least one.",
    (ANY_FIELD, "string_too_long"): "This is longer than the ledger keeps: please shorten it.",
    (ANY_FIELD, "too_long"): "That is more than can be chosen here: please choose fewer.",
    (ANY_FIELD, "control_character"): "This holds an invisible character (pasted from "
                                      "somewhere, perhaps): please type it again.",
    (ANY_FIELD, "datetime_parsing"): _A_MOMENT,
    (ANY_FIELD, "datetime_from_date_parsing"): _A_MOMENT,
    (ANY_FIELD, "datetime_type"): _A_MOMENT,
    (ANY_FIELD, "timezone_aware"): _A_MOMENT,
    (ANY_FIELD, "date_parsing"): "Please give a day.",
    (ANY_FIELD, "date_from_datetime_parsing"): "Please give a day.",
    (ANY_FIELD, "uuid_parsing"): _A_CHOICE,
    (ANY_FIELD, "uuid_type"): _A_CHOICE,
    (ANY_FIELD, "literal_error"): _A_CHOICE,
    (ANY_FIELD, "enum"): _A_CHOICE,
    (ANY_FIELD, "bool_parsing"): _A_CHOICE,
    (ANY_FIELD, "int_parsing"): "Please give a whole number.",
    (ANY_FIELD, "int_from_float"): "Please give a whole number.",
    (ANY_FIELD, "greater_than_equal"): "That number is smaller than this takes.",
    (ANY_FIELD, "greater_than"): "That number is smaller than this takes.",
    (ANY_FIELD, "less_than_equal"): "That number is larger than this takes.",
    (ANY_FIELD, "less_than"): "That number is larger than this takes.",
    (ANY_FIELD, "url_parsing"): "Please give a whole web address, starting https://.",
    (ANY_FIELD, "url_scheme"): "Please give a web address starting https://.",
    (ANY_FIELD, "extra_forbidden"): "This form has a part the ledger does not take: please "
                                    "reload the page.",
    ("handle", "handle_invalid"): "A handle is 3 to 32 characters, each a letter from a to "
                                  "z, a digit, “_”, “.” or “-”.",
    ("time_zone", "time_zone_unknown"): "Please choose a time zone from the list.",
    ("happened_at", "timezone_aware"): _A_MOMENT,
    ("parties", "too_short"): "Please choose who this is between.",
    ("audience", "too_short"): "Please choose who you are telling.",
}

# What each field is called, for the page that lists what needs another look (a browser
# without script, which cannot keep the form on screen).
FIELD_NAMES: Mapping[str, str] = {
    "handle": "Your handle",
    "display_name": "Your name",
    "password": "Your password",
    "current_password": "Your password now",
    "new_password": "Your new password",
    "name": "The name",
    "title": "The title",
    "terms": "The terms",
    "parties": "Who it is between",
    "happened_at": "When it happened",
    "what_happened": "What happened",
    "respond_by": "Answer by",
    "time_zone": "Your time zone",
    "url": "The address",
    "words": "Your words",
    "trust": "How trust feels",
    "audience": "Who you are telling",
}


@dataclass(frozen=True)
class PlainError:
    """A refusal as the person is told it."""

    message: str
    # The form's field name (as the form names it, without ``[]`` or ``@local``) → the
    # sentence shown beside it.
    fields: dict[str, str] = field(default_factory=dict)
    # The same, with each field's name in words, for the page without the form.
    listed: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "fields": self.fields}


def plain(code: str, message: str, problems: list[dict[str, Any]]) -> PlainError:
    """The refusal the API answered (its code, its message, its ``details.errors``) in
    plain words."""
    fields: dict[str, str] = {}
    for problem in problems:
        name = field_name(problem.get("loc", []))
        if name and name not in fields:
            fields[name] = _sentence_for(name, str(problem.get("type", "")),
                                         str(problem.get("msg", "")))
    field_of_code, said = BY_CODE.get(code, (None, _as_sentence(message)))
    if field_of_code is not None:
        fields.setdefault(field_of_code, said)
    listed = [(FIELD_NAMES.get(name, name.replace("_", " ").capitalize()), sentence)
              for name, sentence in fields.items()]
    return PlainError(message=said, fields=fields, listed=listed)


def field_name(location: list[Any]) -> str:
    """The form field a problem's location names: ``parties`` for ``parties.2`` (a list),
    ``definitions.date`` for a word of a nested part."""
    parts = [str(part) for part in location if not isinstance(part, int)]
    return ".".join(parts[:2])


def _sentence_for(name: str, kind: str, rule_said: str) -> str:
    top = name.partition(".")[0]
    return (
        BY_PROBLEM.get((name, kind))
        or BY_PROBLEM.get((top, kind))
        or BY_PROBLEM.get((ANY_FIELD, kind))
        or _as_sentence(rule_said)
    )


def _as_sentence(words: str) -> str:
    words = words.strip().removeprefix("Value error, ")
    if not words:
        return "That did not go through. Nothing was changed; please try again."
    return words[0].upper() + words[1:] + ("" if words.endswith((".", "!", "?")) else ".")
