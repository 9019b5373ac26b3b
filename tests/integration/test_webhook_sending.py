"""The delivery's sender against real receivers on loopback: aiohttp servers, servers that
answer byte by byte as scripted, and a TLS server with a certificate of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import itertools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from ledger.webhooks.sending import (
    CLOSED_WITHOUT_ANSWERING,
    SNIPPET_BYTES,
    UNREADABLE_ANSWER,
    Answer,
    Sender,
    SendFailed,
)
from ledger.webhooks.ssrf import GuardedResolver
from tests.unit.test_webhook_ssrf import ScriptedResolver


@contextlib.asynccontextmanager
async def sending(**overrides: object) -> AsyncIterator[Sender]:
    """A sender for one test (loopback allowed), closed after it."""
    options: dict[str, object] = {
        "user_agent": "sending-test/1", "connect_seconds": 5, "total_seconds": 10,
        "allow_private": True,
    }
    options.update(overrides)
    opened = Sender(**options)  # type: ignore[arg-type]
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def raw_server(
    talk: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[URL]:
    """A server on 127.0.0.1 that talks as ``talk`` says, byte by byte; its URL."""
    server = await asyncio.start_server(talk, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"{'https' if tls else 'http'}://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The next request on a connection, as the sender wrote it; None once it ends."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return head + await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


class Receiver:
    """An aiohttp server on 127.0.0.1 noting each request and the connection it came on."""

    def __init__(self, answer: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.answer = answer
        self.peers: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.url = URL()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.peers.append(request.transport.get_extra_info("peername")[:2])  # type: ignore[union-attr]
        body = await request.read()
        self.requests.append((request.method, request.path_qs, dict(request.headers), body))
        return await self.answer(request)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    runners: list[web.AppRunner] = []

    async def start(
        answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
        tls: ssl.SSLContext | None = None,
    ) -> Receiver:
        receiver = Receiver(answer)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = runner.addresses[0][1]
        receiver.url = URL(f"{'https' if tls else 'http'}://localhost:{port}/hooks/a?b=1")
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def test_a_request_is_the_post_the_endpoint_expects_and_its_connection_is_kept(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await serve(no_content)
    async with sending() as kept:
        for n in range(5):
            body = b'{"n": %d}' % n
            answer = await kept.post(receiver.url, {"webhook-id": f"msg_{n}"}, body)
            assert answer == Answer(204, None, b"")
        assert kept.connections == 1

    assert len(set(receiver.peers)) == 1  # one connection carried all five
    method, path, headers, body = receiver.requests[-1]
    assert (method, path, body) == ("POST", "/hooks/a?b=1", b'{"n": 4}')
    assert headers["webhook-id"] == "msg_4"
    assert headers["Host"] == f"localhost:{receiver.url.port}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(b'{"n": 4}'))
    assert headers["User-Agent"] == "sending-test/1"
    assert kept.connections == 0


async def test_posts_at_once_take_a_connection_each_and_leave_them_kept(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    arrived = asyncio.Event()
    waiting: list[int] = []

    async def slow(request: web.Request) -> web.Response:
        waiting.append(1)
        if len(waiting) >= 3:
            arrived.set()
        await arrived.wait()  # all three are in before any is answered
        return web.Response(status=200)

    receiver = await serve(slow)
    async with sending() as kept:
        answers = await asyncio.gather(*(kept.post(receiver.url, {}, b"{}") for _ in range(3)))
        assert [answer.status for answer in answers] == [200, 200, 200]
        assert kept.connections == 3
        for _ in range(3):
            await kept.post(receiver.url, {}, b"{}")
        assert kept.connections == 3  # the kept ones were used again
    assert len(set(receiver.peers)) == 3


async def test_a_connection_the_receiver_closes_is_not_used_again(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    async def closing(request: web.Request) -> web.Response:
        response = web.Response(status=200)
        response.force_close()
        return response

    receiver = await serve(closing)
    async with sending() as kept:
        for _ in range(3):
            assert (await kept.post(receiver.url, {}, b"{}")).status == 200
    assert len(set(receiver.peers)) == 3


async def test_a_long_answer_is_cut_at_the_snippet_and_its_connection_closed(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    long_body = bytes(range(256)) * 40  # 10 240 bytes

    async def busy(request: web.Request) -> web.StreamResponse:
        if request.query.get("short"):
            return web.Response(status=200, body=b"fine")
        response = web.StreamResponse(status=429, headers={"Retry-After": "120"})
        await response.prepare(request)  # chunked: no length given
        for start in range(0, len(long_body), 1000):
            await response.write(long_body[start:start + 1000])
        await response.write_eof()
        return response

    receiver = await serve(busy)
    async with sending() as kept:
        answer = await kept.post(receiver.url, {}, b"{}")
        assert answer == Answer(429, "120", long_body[:SNIPPET_BYTES])
        short = receiver.url.with_query(short="1")
        assert await kept.post(short, {}, b"{}") == Answer(200, None, b"fine")
        assert await kept.post(short, {}, b"{}") == Answer(200, None, b"fine")
    # The cut answer's connection was closed; the short answers shared the next one.
    assert len(set(receiver.peers)) == 2


async def test_idle_connections_are_closed_rather_than_used_again(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await serve(no_content)
    async with sending(keep_idle_seconds=0) as fresh:  # every kept connection is already too old
        for _ in range(3):
            await fresh.post(receiver.url, {}, b"{}")
            assert fresh.connections == 1
    assert len(set(receiver.peers)) == 3


async def test_when_one_address_of_a_name_refuses_the_next_is_tried(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await serve(no_content)  # on 127.0.0.1 alone: 127.0.0.2 refuses
    dns = ScriptedResolver(["127.0.0.2", "127.0.0.1"])
    async with sending(resolver=GuardedResolver(inner=dns, allow_private=True)) as either:
        assert (await either.post(receiver.url.with_host("two.example"), {}, b"{}")).status == 204
    assert len(receiver.requests) == 1
    assert receiver.requests[0][2]["Host"] == f"two.example:{receiver.url.port}"


async def test_a_name_is_resolved_once_for_the_attempts_that_need_it_together(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    """Each lookup takes one of the loop's few threads: attempts to one name at the same
    moment share one, and its answer serves the next ones too (within DNS_SECONDS)."""
    receiver = await serve(no_content)
    dns = ScriptedResolver(["127.0.0.1"])  # a second lookup would find no answer left
    url = receiver.url.with_host("once.example")
    async with sending(
        resolver=GuardedResolver(inner=dns, allow_private=True),
        keep_idle_seconds=0,  # no connection kept: each post opens one
    ) as resolving:
        answers = await asyncio.gather(*(resolving.post(url, {}, b"{}") for _ in range(4)))
        answers.append(await resolving.post(url, {}, b"{}"))
    assert [answer.status for answer in answers] == [204] * 5
    assert dns.answers == []
    assert len(set(receiver.peers)) == 5


async def test_a_kept_connection_closed_as_a_request_goes_out_is_replaced_once() -> None:
    """The receiver's idle time runs out as the second request goes out: it closes the
    connection without answering, and the request goes again on a new connection."""
    seen: list[tuple[int, bytes]] = []

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = len({number for number, _ in seen}) + 1
        while (request := await read_request(reader)) is not None:
            seen.append((connection, request))
            if connection == 1 and len(seen) == 2:
                writer.close()  # the second request on the first connection: no answer
                return
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with raw_server(talk) as url, sending() as kept:
        assert (await kept.post(url, {}, b"{}")).status == 204
        assert (await kept.post(url, {}, b"{}")).status == 204
    assert [number for number, _ in seen] == [1, 1, 2]
    assert seen[1][1] == seen[2][1]  # the same request, sent again


async def test_idle_connections_are_closed_in_time_without_another_post(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await serve(no_content)
    async with sending(keep_idle_seconds=0.05) as quick:
        await quick.post(receiver.url, {}, b"{}")
        for _ in range(400):  # until the sweep has run (no further post asks for it)
            if quick.connections == 0:
                break
            await asyncio.sleep(0.025)
        assert quick.connections == 0


async def test_closing_the_sender_sends_nothing_again_on_a_new_connection() -> None:
    """A post in flight when the sender closes fails; it is not sent again elsewhere."""
    seen: list[int] = []
    second_in = asyncio.Event()

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            seen.append(1)
            if len(seen) == 1:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                second_in.set()  # held, never answered

    async with raw_server(talk) as url, sending() as closing:
        await closing.post(url, {}, b"{}")
        in_flight = asyncio.ensure_future(closing.post(url, {}, b"{}"))
        await second_in.wait()
        await closing.close()
        with pytest.raises(SendFailed):
            await in_flight
    assert seen == [1, 1]


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_receiver_that_speaks_unasked_leaves_no_connection_behind(
    scheme: str, tmp_path: Path
) -> None:
    """Its first words can arrive as the connection opens, before anything is asked: on
    uvloop (the service's loop, used here) over plain TCP, and over TLS on either loop."""
    server_side = trusting_side = None
    if scheme == "https":
        server_side, trusting_side = tls_contexts(tmp_path, [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ])

    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.example ESMTP ready\r\n")
        await reader.read()

    async def asked_three_times() -> tuple[set[str], int]:
        owner_texts = set()
        async with (
            raw_server(banner, server_side) as url,
            sending(ssl_context=trusting_side) as asking,
        ):
            for _ in range(3):
                with pytest.raises(SendFailed) as failed:
                    await asking.post(url, {}, b"{}")
                owner_texts.add(failed.value.owner_text)
            return owner_texts, asking.connections

    owner_texts, connections = await asyncio.to_thread(uvloop.run, asked_three_times())
    assert owner_texts <= {UNREADABLE_ANSWER, CLOSED_WITHOUT_ANSWERING}
    assert connections == 0


async def test_a_second_answer_to_one_request_spends_the_connection() -> None:
    """Bytes after a whole answer are not taken for the next request's answer."""
    connections: list[int] = []

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        number = len(connections)
        while await read_request(reader) is not None:
            if number == 1:  # two answers at once, the second made up
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                             b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with raw_server(talk) as url, sending() as kept:
        assert (await kept.post(url, {}, b"{}")).status == 200
        assert (await kept.post(url, {}, b"{}")).status == 204
    assert len(connections) == 2


async def test_a_refused_connection_is_said_in_the_owners_words() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with raw_server(silent) as url:
        pass  # nothing listens there now
    async with sending() as refused:
        with pytest.raises(SendFailed) as failed:
            await refused.post(url, {}, b"{}")
    assert failed.value.owner_text == "could not connect: the connection was refused"
    assert "127.0.0.1" not in failed.value.owner_text


# -- receivers that answer exactly what the test scripts ------------------------------------


async def post_to_script(
    pieces: Sequence[bytes], *, then_close: bool = True, **options: object
) -> Answer:
    """The answer to a POST to a server that reads the request, answers ``pieces`` one
    write at a time, and closes (or holds the connection open)."""

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        if then_close:
            writer.close()
        else:
            await reader.read()  # until the sender gives up and closes

    async with raw_server(talk) as url, sending(**options) as asking:
        return await asking.post(url, {}, b"{}")


ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 11\r\n"
          b"X-Other: 1\r\n\r\ntry later\r\n")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(ANSWER) - 1), max_size=6))
async def test_an_answer_reads_the_same_however_it_is_cut_into_pieces(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(ANSWER)]
    pieces = [ANSWER[a:b] for a, b in itertools.pairwise(bounds)]
    assert await post_to_script(pieces) == Answer(503, "30", b"try later\r\n")


async def test_answers_aiohttps_parser_let_through_are_read_here_too() -> None:
    """Bare LF line endings, a space after a chunk's size: sloppy, and common."""
    bare_lf = await post_to_script([b"HTTP/1.1 202 Accepted\nRetry-After: 5\n\nok"])
    assert bare_lf == Answer(202, "5", b"ok")
    spaced = await post_to_script([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n"
    ])
    assert spaced == Answer(200, None, b"ok")


async def test_a_head_without_end_is_not_read_without_end() -> None:
    with pytest.raises(SendFailed) as failed:
        await post_to_script([b"HTTP/1.1 200 OK\r\nX-Junk: "] + [b"a" * 8192] * 10,
                             then_close=False)
    assert failed.value.owner_text == UNREADABLE_ANSWER
    with pytest.raises(SendFailed) as failed:
        await post_to_script([b"HTTP/1.1 102 Processing\r\n\r\n"] * 12, then_close=False)
    assert failed.value.owner_text == UNREADABLE_ANSWER


async def test_interim_answers_are_skipped_for_the_final_one() -> None:
    answer = await post_to_script([
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    ])
    assert answer == Answer(201, None, b"ok")


async def test_an_answer_without_a_length_ends_with_its_connection() -> None:
    answer = await post_to_script([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"all of it"])
    assert answer == Answer(200, None, b"all of it")


async def test_a_redirect_is_an_answer_not_followed() -> None:
    answer = await post_to_script(
        [b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n"]
    )
    assert answer == Answer(302, None, b"")


@pytest.mark.parametrize(
    ("pieces", "owner_text"),
    [
        ([], CLOSED_WITHOUT_ANSWERING),
        ([b"HTTP/1.1 200 OK\r\nContent-"], CLOSED_WITHOUT_ANSWERING),
        ([b"SSH-2.0-OpenSSH_9.2\r\n"], UNREADABLE_ANSWER),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n"], UNREADABLE_ANSWER),
        ([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\n\r\n"], UNREADABLE_ANSWER),
    ],
)
async def test_no_answer_or_one_that_cannot_be_read_is_said_in_the_owners_words(
    pieces: list[bytes], owner_text: str
) -> None:
    with pytest.raises(SendFailed) as failed:
        await post_to_script(pieces)
    assert failed.value.owner_text == owner_text


async def test_a_receiver_that_never_answers_runs_out_the_attempts_time() -> None:
    with pytest.raises(TimeoutError):
        await post_to_script([b"HTTP/1.1 200 OK\r\n"], then_close=False, total_seconds=0.2)


async def test_a_body_still_coming_when_time_runs_out_leaves_the_status_it_came_with() -> None:
    answer = await post_to_script(
        [b"HTTP/1.1 200 OK\r\n\r\nthe start"], then_close=False, total_seconds=0.2
    )
    assert answer == Answer(200, None, b"the start")


# -- TLS ------------------------------------------------------------------------------------


def tls_contexts(
    directory: Path, names: Sequence[x509.GeneralName]
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server's TLS with a certificate for ``names``, signed by a certificate authority
    of the test's own, and a client's TLS that trusts that authority alone."""
    now = datetime.datetime.now(datetime.UTC)
    authority_key = ec.generate_private_key(ec.SECP256R1())
    authority_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test authority")])
    authority = (
        x509.CertificateBuilder()
        .subject_name(authority_name).issuer_name(authority_name)
        .public_key(authority_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(authority_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(authority_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(authority_key, hashes.SHA256())
    )
    files = directory / "authority.pem", directory / "certificate.pem", directory / "key.pem"
    files[0].write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(files[1], files[2])
    return server_side, ssl.create_default_context(cafile=str(files[0]))


async def test_over_tls_the_receivers_certificate_is_verified(
    serve: Callable[..., Awaitable[Receiver]], tmp_path: Path
) -> None:
    server_side, trusting_side = tls_contexts(tmp_path, [
        x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ])
    receiver = await serve(no_content, tls=server_side)
    assert receiver.url.scheme == "https"

    async with (
        sending(ssl_context=trusting_side) as trusting,
        sending() as system_trust,  # the system's trust store knows nothing of the authority
    ):
        assert (await trusting.post(receiver.url, {}, b"{}")).status == 204
        assert (await trusting.post(receiver.url, {}, b"{}")).status == 204
        assert trusting.connections == 1
        with pytest.raises(SendFailed) as failed:
            await system_trust.post(receiver.url, {}, b"{}")
    assert failed.value.owner_text == (
        "could not connect: the receiver's TLS certificate was not accepted"
    )
    assert len(receiver.requests) == 2


async def test_over_tls_a_name_written_with_its_final_dot_is_the_same_name(
    serve: Callable[..., Awaitable[Receiver]], tmp_path: Path
) -> None:
    server_side, trusting_side = tls_contexts(tmp_path, [x509.DNSName("hooks.example")])
    receiver = await serve(no_content, tls=server_side)
    async with sending(
        ssl_context=trusting_side,
        resolver=GuardedResolver(inner=ScriptedResolver(["127.0.0.1"]), allow_private=True),
    ) as trusting:
        answer = await trusting.post(receiver.url.with_host("hooks.example."), {}, b"{}")
    assert answer.status == 204


async def test_over_tls_a_certificate_for_another_name_is_refused(
    serve: Callable[..., Awaitable[Receiver]], tmp_path: Path
) -> None:
    server_side, trusting_side = tls_contexts(tmp_path, [x509.DNSName("localhost")])
    receiver = await serve(no_content, tls=server_side)
    elsewhere = receiver.url.with_host("127.0.0.1")  # the same server, by a name not certified
    async with sending(ssl_context=trusting_side) as trusting:
        with pytest.raises(SendFailed) as failed:
            await trusting.post(elsewhere, {}, b"{}")
    assert "TLS certificate was not accepted" in failed.value.owner_text
    assert receiver.requests == []
