"""Accounts over HTTP against real PostgreSQL: signing up, signing in and out, sessions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import ssl
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pytest_aiohttp import AiohttpClient

from ledger.auth.sessions import SESSION_COOKIE
from ledger.logs import configure_logging
from tests.http.accounts_support import (
    PASSWORD,
    TEST_POLICY,
    WRONG_PASSWORD,
    AnyClient,
    query,
    sign_in,
    sign_up,
    signed_in,
)
from tests.http.support import Client, error_of


def session_cookie_of(response: aiohttp.ClientResponse) -> str:
    """The raw Set-Cookie header of the session cookie (attributes included)."""
    [header] = [
        value for value in response.headers.getall("Set-Cookie", [])
        if value.startswith(f"{SESSION_COOKIE}=")
    ]
    return header


async def test_sign_up_sign_in_who_am_i_and_sign_out(client: Client) -> None:
    created = await client.post("/api/accounts", json={
        "handle": "Robin", "display_name": "  Robin  ", "password": PASSWORD,
    })
    assert created.status == 201
    account = await created.json()
    assert set(account) == {"id", "handle", "display_name", "time_zone"}
    assert (account["handle"], account["display_name"]) == ("robin", "Robin")
    assert account["time_zone"] is None  # until a browser says
    assert (await client.get("/api/session")).status == 401

    signed_in_ = await sign_in(client, "ROBIN")

    assert signed_in_.status == 200
    session = await signed_in_.json()
    assert session["account"] == account
    assert isinstance(session["csrf_token"], str) and len(session["csrf_token"]) >= 32
    assert signed_in_.headers["Cache-Control"] == "no-store"
    who = await client.get("/api/session")
    assert who.status == 200
    assert await who.json() == session
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE]

    signed_out = await client.delete(
        "/api/session", headers={"X-CSRF-Token": session["csrf_token"]}
    )

    assert signed_out.status == 204
    assert "Max-Age=0" in session_cookie_of(signed_out)  # the browser forgets it
    assert (await client.get("/api/session")).status == 401
    # The session itself ended: a copy of the cookie kept elsewhere opens nothing.
    replayed = await client.get(
        "/api/session", headers={"Cookie": f"{SESSION_COOKIE}={cookie.value}"}
    )
    assert replayed.status == 401


async def test_the_password_is_kept_only_as_an_argon2id_hash(
    client: Client, database_url: str
) -> None:
    await sign_up(client, "robin")

    [row] = await query(database_url, "SELECT password_hash FROM accounts")

    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


async def test_a_handle_is_taken_whatever_its_case(client: Client, database_url: str) -> None:
    await sign_up(client, "robin")

    response = await client.post("/api/accounts", json={
        "handle": "ROBIN", "display_name": "Another Robin", "password": PASSWORD,
    })

    assert response.status == 409
    assert error_of(await response.json())["code"] == "handle_taken"
    assert len(await query(database_url, "SELECT id FROM accounts")) == 1


@pytest.mark.parametrize(
    ("change", "bad_field"),
    [
        ({"handle": "ro"}, "handle"),
        ({"handle": "robin hood"}, "handle"),
        ({"handle": "röbin"}, "handle"),
        ({"handle": "r" * 33}, "handle"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "R" * 81}, "display_name"),
        ({"password": "too short"}, "password"),
        ({"nickname": "Rob"}, "nickname"),
    ],
)
async def test_an_invalid_sign_up_names_the_field_and_writes_nothing(
    client: Client, database_url: str, change: dict[str, str], bad_field: str
) -> None:
    body = {"handle": "robin", "display_name": "Robin", "password": PASSWORD, **change}

    response = await client.post("/api/accounts", json=body)

    assert response.status == 422
    error = error_of(await response.json())
    assert [problem["loc"] for problem in error["details"]["errors"]] == [[bad_field]]
    assert PASSWORD not in await response.text() and "too short" not in await response.text()
    assert await query(database_url, "SELECT id FROM accounts") == []


async def test_wrong_credentials_get_one_answer_whether_or_not_the_handle_exists(
    client: Client,
) -> None:
    await sign_up(client, "robin")

    wrong_password = await sign_in(client, "robin", WRONG_PASSWORD)
    no_such_handle = await sign_in(client, "nobody-here", PASSWORD)

    assert wrong_password.status == no_such_handle.status == 401
    assert error_of(await wrong_password.json())["code"] == "invalid_credentials"
    assert await wrong_password.json() == await no_such_handle.json()
    for response in (wrong_password, no_such_handle):
        assert "Set-Cookie" not in response.headers


async def test_the_session_cookie_is_http_only_same_site_lax_and_lives_as_configured(
    client: Client, database_url: str
) -> None:
    await sign_up(client, "robin")

    response = await sign_in(client, "robin")

    attributes = SimpleCookie(session_cookie_of(response))[SESSION_COOKIE]
    assert attributes["httponly"] is True
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert attributes["secure"] == ""  # plain http here: see the HTTPS test below
    lifetime = TEST_POLICY.session_lifetime
    assert attributes["max-age"] == str(int(lifetime.total_seconds()))
    [session] = await query(database_url, "SELECT created_at, expires_at FROM sessions")
    assert session["expires_at"] - session["created_at"] == lifetime


def _self_signed_tls(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def test_over_https_the_session_cookie_is_secure(
    app: web.Application, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    server = TestServer(app)
    await server.start_server(ssl=_self_signed_tls(tmp_path))
    client: AnyClient = await aiohttp_client(
        server, connector=aiohttp.TCPConnector(ssl=False)
    )
    await sign_up(client, "robin")

    response = await sign_in(client, "robin")

    assert response.status == 200
    assert SimpleCookie(session_cookie_of(response))[SESSION_COOKIE]["secure"] is True
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_an_expired_session_authenticates_nobody(
    client: Client, database_url: str
) -> None:
    await signed_in(client, "robin")
    assert (await client.get("/api/session")).status == 200

    await query(database_url, "UPDATE sessions SET expires_at = now() - interval '1 second'")

    response = await client.get("/api/session")
    assert response.status == 401
    assert error_of(await response.json())["code"] == "unauthenticated"


async def test_signing_in_again_ends_the_session_the_cookie_held(
    client: Client, database_url: str
) -> None:
    csrf_token = await signed_in(client, "robin")

    again = await sign_in(client, "robin", headers={"X-CSRF-Token": csrf_token})

    assert again.status == 200
    sessions = await query(database_url, "SELECT ended_at FROM sessions ORDER BY created_at")
    assert [row["ended_at"] is not None for row in sessions] == [True, False]


async def test_an_erased_account_can_neither_sign_in_nor_use_its_session(
    client: Client, database_url: str
) -> None:
    await signed_in(client, "robin")

    await query(database_url, "UPDATE accounts SET erased_at = now()")

    assert (await client.get("/api/session")).status == 401
    assert (await sign_in(client, "robin")).status == 401


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The service's own JSON logging, into a buffer, for one test."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("debug", "json", stream=stream)
    # Loggers bound to this buffer must not outlive the test in module-level caches.
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


async def test_no_password_token_or_cookie_ever_reaches_the_logs(
    client: Client, log_stream: io.StringIO
) -> None:
    secrets_seen: list[str] = [PASSWORD, WRONG_PASSWORD]
    await sign_up(client, "robin")
    refused = await client.post("/api/accounts", json={
        "handle": "sam", "display_name": "Sam", "password": "short pw",
    })
    assert refused.status == 422
    secrets_seen.append("short pw")
    assert (await sign_in(client, "robin", WRONG_PASSWORD)).status == 401
    assert (await sign_in(client, "nobody", WRONG_PASSWORD)).status == 401
    signed_in_ = await sign_in(client, "robin")
    session: dict[str, Any] = await signed_in_.json()
    secrets_seen.append(session["csrf_token"])
    secrets_seen.append(SimpleCookie(session_cookie_of(signed_in_))[SESSION_COOKIE].value)
    made = await client.post(
        "/api/tokens", json={"name": "bot", "password": PASSWORD},
        headers={"X-CSRF-Token": session["csrf_token"]},
    )
    secrets_seen.append((await made.json())["token"])

    logged = log_stream.getvalue()

    assert logged.count('"http_request"') == 6  # the log was written, one line per request
    assert '"sign_in_failed"' in logged and '"signed_in"' in logged
    for secret in secrets_seen:
        assert secret not in logged


async def test_a_hash_made_with_other_parameters_is_renewed_at_sign_in(
    client: Client, database_url: str
) -> None:
    await sign_up(client, "robin")
    older = PasswordHasher.from_parameters(
        dataclasses.replace(TEST_POLICY.password_hashing, time_cost=2)
    ).hash(PASSWORD)
    await query(database_url, "UPDATE accounts SET password_hash = $1", older)

    assert (await sign_in(client, "robin")).status == 200

    [row] = await query(database_url, "SELECT password_hash FROM accounts")
    assert row["password_hash"] != older
    assert PasswordHasher.from_parameters(TEST_POLICY.password_hashing).verify(
        row["password_hash"], PASSWORD
    )
    assert not PasswordHasher.from_parameters(TEST_POLICY.password_hashing).check_needs_rehash(
        row["password_hash"]
    )
