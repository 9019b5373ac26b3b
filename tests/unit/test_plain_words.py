"""A refusal said in plain words: a sentence for the form, one beside each field, never the
API's wording for programs; and every code the table speaks of is one the service uses."""

from __future__ import annotations

import inspect

from hypothesis import given
from hypothesis import strategies as st

from ledger import errors
from ledger.domain import agreements, disclosures, polycules, repair
from ledger.http.rule_codes import rule_codes
from ledger.web.plain_words import BY_CODE, plain

# Codes the service answers with beyond the domain's rules (ledger/errors.py's classes,
# the HTTP layer's and aiohttp's refusals, the accounts' own).
_SERVICE_CODES = {
    "validation_failed", "csrf_failed", "invalid_credentials", "password_incorrect",
    "session_required", "handle_taken", "too_many_requests", "database_unavailable",
    "internal_error", "request_entity_too_large", "payload_too_large",
} | {
    kind.code for _, kind in inspect.getmembers(errors, inspect.isclass)
    if issubclass(kind, errors.LedgerError)
} | {"malformed_form", "not_ready"}


def test_every_code_the_table_speaks_of_is_one_the_service_answers_with() -> None:
    domain = rule_codes(agreements, disclosures, polycules, repair)
    known = domain.refused | domain.not_permitted | _SERVICE_CODES

    assert set(BY_CODE) <= known, set(BY_CODE) - known


def test_a_form_the_model_refuses_is_told_field_by_field() -> None:
    told = plain("validation_failed", "the request does not have the expected shape", [
        {"loc": ["title"], "msg": "Field required", "type": "missing"},
        {"loc": ["parties", 2], "msg": "Input should be a valid UUID", "type": "uuid_parsing"},
        {"loc": ["definitions", "date"], "msg": "String should have at most 500 characters",
         "type": "string_too_long"},
    ])

    assert "expected shape" not in told.message
    assert told.fields == {
        "title": "Please fill this in.",
        "parties": "Please choose one of the options offered.",
        "definitions.date": "This is longer than the ledger keeps: please shorten it.",
    }
    assert ("The title", "Please fill this in.") in told.listed


def test_a_rule_of_the_domain_about_a_field_is_said_beside_it() -> None:
    told = plain("happened_in_future", "a breach can only be reported once it happened", [])

    assert told.fields == {"happened_at": told.message}


@given(st.text(max_size=60), st.text(max_size=60))
def test_whatever_is_refused_the_person_reads_a_sentence(code: str, message: str) -> None:
    told = plain(code, message, [{"loc": ["x"], "msg": message, "type": code}])

    assert told.message and told.message[0] == told.message[0].upper()
    assert told.message.endswith((".", "!", "?"))
    # The field named, and the one a known code is about (hypothesis draws the codes the
    # service uses too: "handle_taken" is about the handle).
    about, _ = BY_CODE.get(code, (None, ""))
    assert set(told.fields) <= {"x", about}
