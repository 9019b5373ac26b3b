"""Standard Webhooks signatures, checked by the standardwebhooks package's own verifier."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from ledger.webhooks.signing import new_message_id, new_secret, sign

BODY = json.dumps(
    {"type": "agreement.ratified", "polycule_id": "p-1", "agreement_id": "a-7"},
    separators=(",", ":"),
)


def now() -> datetime:
    return datetime.now(UTC)


def test_a_secret_is_whsec_and_base64_of_enough_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert 24 <= len(key) <= 32
    assert new_secret() != secret


def test_a_message_id_is_msg_and_unique() -> None:
    first, second = new_message_id(), new_message_id()
    assert first.startswith("msg_")
    assert len(first) > len("msg_") + 16
    assert first != second


def test_the_headers_are_exactly_the_three_standard_ones() -> None:
    secret = new_secret()
    sent_at = datetime(2026, 5, 1, 12, 30, 15, 987654, tzinfo=UTC)
    headers = sign("msg_1", sent_at, BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-timestamp"] == str(int(sent_at.timestamp()))  # whole seconds
    version, signature = headers["webhook-signature"].split(",")
    assert version == "v1"
    assert len(base64.b64decode(signature, validate=True)) == 32  # HMAC-SHA256


def test_a_signed_message_verifies_with_the_standard_verifier() -> None:
    secret = new_secret()
    headers = sign(new_message_id(), now(), BODY, [secret])
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(secret).verify(BODY.encode(), headers) == json.loads(BODY)


def test_during_a_rotation_both_secrets_sign_and_each_verifies_alone() -> None:
    old, new = new_secret(), new_secret()
    headers = sign(new_message_id(), now(), BODY, [old, new])
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(signature.startswith("v1,") for signature in signatures)
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_a_secret_listed_twice_signs_once() -> None:
    secret = new_secret()
    headers = sign("msg_1", now(), BODY, [secret, secret])
    assert len(headers["webhook-signature"].split(" ")) == 1


def test_a_tampered_body_is_refused() -> None:
    secret = new_secret()
    headers = sign(new_message_id(), now(), BODY, [secret])
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY.replace("a-7", "a-8"), headers)


def test_a_wrong_secret_is_refused() -> None:
    headers = sign(new_message_id(), now(), BODY, [new_secret()])
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(new_secret()).verify(BODY, headers)


def test_another_message_id_is_refused() -> None:
    secret = new_secret()
    headers = sign("msg_1", now(), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})


def test_an_old_timestamp_is_refused() -> None:
    secret = new_secret()
    headers = sign(new_message_id(), now() - timedelta(minutes=10), BODY, [secret])
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize("hours", [-8, 2, 5.5, 14])
def test_a_timestamp_in_another_time_zone_signs_the_same_instant(hours: float) -> None:
    """standardwebhooks 1.1.0 replaces the zone instead of converting: sign() converts."""
    secret = new_secret()
    in_utc = now()
    elsewhere = in_utc.astimezone(timezone(timedelta(hours=hours)))

    headers = sign("msg_1", elsewhere, BODY, [secret])

    assert headers == sign("msg_1", in_utc, BODY, [secret])
    assert headers["webhook-timestamp"] == str(int(in_utc.timestamp()))
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        sign("msg_1", datetime(2026, 5, 1, 12, 0), BODY, [new_secret()])


def test_a_bytes_body_is_refused_rather_than_signed_as_its_repr() -> None:
    with pytest.raises(TypeError, match="str"):
        sign("msg_1", now(), BODY.encode(), [new_secret()])  # type: ignore[arg-type]


@pytest.mark.parametrize("secrets", [[], ["not-a-whsec-secret"]])
def test_signing_needs_live_whsec_secrets(secrets: list[str]) -> None:
    with pytest.raises(ValueError, match="secret"):
        sign("msg_1", now(), BODY, secrets)


@given(
    message_id=st.text(min_size=1, max_size=40),
    body=st.text(max_size=300),
    seconds=st.integers(min_value=0, max_value=4_102_444_800),
    micros=st.integers(min_value=0, max_value=999_999),
    zone_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    secrets=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=2),
)
def test_every_signature_is_the_one_the_standard_library_makes(
    message_id: str, body: str, seconds: int, micros: int, zone_minutes: int,
    secrets: list[bytes],
) -> None:
    """Whatever the id, body (any Unicode), instant, zone and key: each signature is the
    one ``standardwebhooks`` makes for that id, body and whole second, in order."""
    keys = ["whsec_" + base64.b64encode(secret).decode() for secret in secrets]
    instant = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
    elsewhere = instant.astimezone(timezone(timedelta(minutes=zone_minutes)))

    headers = sign(message_id, elsewhere, body, keys)

    whole_second = datetime.fromtimestamp(seconds, UTC)
    expected = [Webhook(key).sign(message_id, whole_second, body) for key in dict.fromkeys(keys)]
    assert headers == {
        "webhook-id": message_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(expected),
    }
