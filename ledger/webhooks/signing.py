"""Standard Webhooks signatures.

Each attempt carries ``webhook-id`` (the same for every retry of one message: the
receiver's idempotency key), ``webhook-timestamp`` (fresh for each attempt, whole seconds)
and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` for each live
secret, space-separated, so that during a rotation receivers holding either secret verify.

The HMAC is computed here with the standard library, once per attempt and secret (the
delivery worker signs every message it sends, with each endpoint's keys read once for
many messages: ``signing_keys``): a secret's key is the base64 after
``whsec_``, the signed bytes are the UTF-8 of ``id.timestamp.body`` with the timestamp in
whole POSIX seconds (the same in any time zone). The tests check every signature with the
``standardwebhooks`` package's own verifier, as receivers do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from secrets import token_bytes

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the format's prefix, not a secret
SECRET_BYTES = 32

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def new_message_id() -> str:
    """A fresh message id; it stays the same across every retry of that message."""
    return f"msg_{uuid.uuid4().hex}"


def sign(message_id: str, timestamp: datetime, body: str, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt of ``body``.

    ``timestamp`` must be time-zone aware (any zone; it is converted to UTC and truncated
    to the second, which is what the header carries). ``secrets`` are the endpoint's live
    ``whsec_`` secrets — two during a rotation — and each contributes one signature.
    """
    return sign_with_keys(message_id, timestamp, body, signing_keys(secrets))


def signing_keys(secrets: Sequence[str]) -> tuple[bytes, ...]:
    """The HMAC keys of an endpoint's live ``whsec_`` secrets, each once: read once for
    every message the delivery worker signs for that endpoint, rather than per message."""
    if not secrets:
        raise ValueError("sign() needs at least one live secret")
    for secret in secrets:
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError(f"a signing secret must start with {SECRET_PREFIX!r}")
    return tuple(_key(secret) for secret in dict.fromkeys(secrets))


def sign_with_keys(
    message_id: str, timestamp: datetime, body: str, keys: Sequence[bytes]
) -> dict[str, str]:
    """``sign``, with the secrets' keys already read (``signing_keys``)."""
    if not isinstance(body, str):
        raise TypeError("sign() takes the body as the exact str that will be sent")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("sign() needs a time-zone-aware timestamp")
    if not keys:
        raise ValueError("sign() needs at least one live secret")
    # Whole seconds, as the header carries them (a POSIX timestamp is the same in any zone).
    seconds = math.floor(timestamp.timestamp())
    signed = f"{message_id}.{seconds}.{body}".encode()
    signatures = [
        "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()
        for key in keys
    ]
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(seconds),
        SIGNATURE_HEADER: " ".join(signatures),
    }


def _key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: its base64, decoded as receivers' libraries
    decode it (missing padding tolerated)."""
    key = base64.b64decode(secret[len(SECRET_PREFIX):] + "==")
    if not key:
        raise ValueError("a signing secret may not be empty")
    return key
