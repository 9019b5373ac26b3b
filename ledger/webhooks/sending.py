"""Sending deliveries: a POST at a time on each connection, connections kept alive.

A delivery is always the same request — a small JSON body and the ledger's own headers,
POSTed to an endpoint's URL — and all the ledger reads of the answer is its status, a
``Retry-After`` and the start of its body. aiohttp's client, which the rest of the service
uses, spends 65 to 80 µs of processor time on each such request here (building the request
and response objects, a task to write the body, its streams); the delivery worker sends
thousands a second, and that time is most of what it spends. ``Sender`` does only what a
delivery needs, in about a third of that:

* **The request** is written in one write: a head made once per endpoint URL, the
  message's headers and its length, and the body. Redirects are answers like any other,
  never followed; no proxy is ever used (through a proxy, the proxy and not we would
  resolve the endpoint's name).
* **The answer** is read by httptools (llhttp, the parser behind uvicorn), as leniently as
  aiohttp's parser reads (a bare LF ending a line, a header folded onto a second line …).
  Interim answers (1xx) are skipped, eight at most. An answer's body is kept up to
  ``SNIPPET_BYTES``; a longer one is cut off there and its connection closed rather than
  read to its end. An answer that ends when the connection does (no length given) is read
  until then. What comes before the body may not exceed ``ANSWER_HEAD_BYTES``; a
  receiver that speaks unasked, or answers twice, spends its connection.
* **Connections** are kept per (scheme, host, port) and reused while the receiver keeps
  them: one closed by the receiver is dropped, one idle for ``KEEP_IDLE_SECONDS`` (15 s)
  closed, by a timer that runs while any is kept.
  A connection carries one exchange at a time (no pipelining), so there are never more
  open to a receiver than attempts in flight to it. A kept connection that the receiver
  closes as a request goes out, answering nothing, is replaced once by a new one for that
  request (the receiver may then have it twice, as at-least-once allows).
* **Opening one** goes through the SSRF guard (``ledger/webhooks/ssrf.py``): a name is
  resolved by ``GuardedResolver``, which drops every forbidden address (one lookup shared
  by the attempts waiting for it, its answer used for ``DNS_SECONDS``, 10 s), and the
  addresses about to be connected to are judged again (literal IP hosts included), then
  tried as aiohttp tries them (aiohappyeyeballs: IPv6 and IPv4 interleaved). A kept
  connection stays on the address it was opened to. Over TLS the receiver's certificate
  and name (without a final dot) are verified against the system's trust store, and
  HTTP/1.1 is offered by ALPN, as aiohttp offers it.
* **Time**: opening a connection (resolving, connecting, the TLS handshake) may take
  ``connect_seconds``; the whole attempt, opening included, ``total_seconds``. Either
  running out before the answer's status is in raises ``TimeoutError``; after it, the
  answer is what came of it by then. Every other failure raises ``SendFailed``, which
  says what happened in words an endpoint's owner may read and, apart, in full for
  operators (an exception's own text can name the addresses a host resolved to).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, cast

import aiohappyeyeballs
import httptools
from yarl import URL

from ledger.webhooks.ssrf import AddressRefused, GuardedResolver, address_refusal

# The start of an answer's body that is kept (the delivery log's snippet: 500 characters
# of UTF-8 are at most 2 000 bytes).
SNIPPET_BYTES = 2_000
# All an answer may send before its body (the status line, headers, interim answers): as
# aiohttp allows about 8 KiB a header and 128 of them. A receiver sending more is not
# read further (a header without end would otherwise be copied again and again).
ANSWER_HEAD_BYTES = 64 * 1024
INTERIM_ANSWERS = 8
# A connection nobody has used for this long is closed rather than used again: receivers
# close idle connections too, and one closed while a request was on its way fails it.
KEEP_IDLE_SECONDS = 15.0
# How long the addresses a name resolved to (those the guard permits) are used for new
# connections before the name is resolved again.
DNS_SECONDS = 10.0

_AddrInfos = list[aiohappyeyeballs.AddrInfoType]

# What an endpoint's owner is told when every address of the host is refused, and when
# its name does not resolve at all: telling those two apart would show which names exist
# inside our network, and naming the addresses would show where they lead.
NOT_PERMITTED = "refused: the host has no address that webhooks may be sent to"
CLOSED_WITHOUT_ANSWERING = "the receiver closed the connection without answering"
UNREADABLE_ANSWER = "the receiver's answer could not be read"


class SendFailed(Exception):
    """An attempt that got no answer: ``owner_text`` for the endpoint's owner (the kind of
    failure, in the ledger's words), ``detail`` for operators' log only."""

    def __init__(self, owner_text: str, detail: str) -> None:
        super().__init__(owner_text)
        self.owner_text = owner_text
        self.detail = detail


class _Unanswered(SendFailed):
    """The connection closed before a single byte of an answer came."""


class Answer(NamedTuple):
    status: int
    retry_after: str | None
    # The start of the body, at most SNIPPET_BYTES.
    snippet: bytes


class Sender:
    """Sends POSTs to webhook endpoints over kept-alive connections (see the module).

    ``allow_private`` lets it reach loopback and private addresses (tests and local
    development only). ``ssl_context`` replaces the system's trust store (tests only).
    Used from one event loop; ``close`` closes every connection.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        connect_seconds: float,
        total_seconds: float,
        allow_private: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        resolver: GuardedResolver | None = None,
        keep_idle_seconds: float = KEEP_IDLE_SECONDS,
    ) -> None:
        self._user_agent = user_agent
        self._connect_seconds = connect_seconds
        self._total_seconds = total_seconds
        self._allow_private = allow_private
        self._ssl_context = ssl_context
        self._resolver = resolver or GuardedResolver(allow_private=allow_private)
        self._keep_idle = keep_idle_seconds
        self._heads: dict[URL, bytes] = {}
        self._resolved: dict[tuple[str, int], tuple[float, _AddrInfos]] = {}
        self._resolving: dict[tuple[str, int], asyncio.Future[_AddrInfos]] = {}
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._sweeping: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def connections(self) -> int:
        """How many connections are open now, in use or idle."""
        return len(self._open)

    async def post(self, url: URL, headers: Mapping[str, str], body: bytes) -> Answer:
        """POST ``body`` (JSON) to ``url`` with ``headers`` (the ledger's own, beside the
        Host, User-Agent, Content-Type and Content-Length it writes itself)."""
        if self._closed:
            raise RuntimeError("the sender is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._total_seconds
        request = b"".join((
            self._head_of(url),
            "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode(),
            b"Content-Length: %d\r\n\r\n" % len(body),
            body,
        ))
        connection = self._idle_connection(url)
        try:
            if connection is None:
                connection = await self._connect(url, deadline)
                answer, reusable = await connection.exchange(request, deadline)
            else:
                try:
                    answer, reusable = await connection.exchange(request, deadline)
                except _Unanswered:
                    # A kept connection the receiver closed, answering nothing, as the
                    # request went out (its idle time ran out then): once more on a new
                    # one. If the request did reach it, the receiver has it twice, which
                    # webhook-id lets it tell (at least once, as every delivery).
                    connection.close()
                    if self._closed:
                        raise
                    connection = await self._connect(url, deadline)
                    answer, reusable = await connection.exchange(request, deadline)
        except BaseException:
            if connection is not None:
                connection.close()  # in an unknown state: never used again
            raise
        if reusable and not self._closed and not connection.closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.key, []).append(connection)
            if self._sweeping is None:
                self._sweeping = loop.call_later(self._keep_idle, self._sweep)
        else:
            connection.close()
        return answer

    async def close(self) -> None:
        self._closed = True
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        for lookup in list(self._resolving.values()):
            lookup.cancel()
        await self._resolver.close()

    # -- connections -----------------------------------------------------------------------

    def _idle_connection(self, url: URL) -> _Connection | None:
        now = time.monotonic()
        idle = self._idle.get(_key(url))
        while idle:
            connection = idle.pop()  # the most recently used: the least likely closed
            if not connection.closed and now - connection.idle_since < self._keep_idle:
                return connection
            connection.close()
        return None

    def _sweep(self) -> None:
        """Closes the connections idle for too long; again later while any is kept."""
        self._sweeping = None
        self._close_idle_since(time.monotonic() - self._keep_idle)
        if self._idle and not self._closed:
            loop = asyncio.get_running_loop()
            self._sweeping = loop.call_later(self._keep_idle, self._sweep)

    def _close_idle_since(self, moment: float) -> None:
        """Closes the idle connections left unused since ``moment`` (or closed)."""
        for key, idle in list(self._idle.items()):
            kept = []
            for connection in idle:
                if connection.closed or connection.idle_since <= moment:
                    connection.close()
                else:
                    kept.append(connection)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    async def _connect(self, url: URL, deadline: float) -> _Connection:
        if self._closed:
            raise SendFailed("could not connect", "the sender is closed")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._connect_seconds)):
                return await self._open_connection(url)
        except AddressRefused as refused:
            raise SendFailed(NOT_PERMITTED, f"{type(refused).__name__}: {refused}") from refused
        except socket.gaierror as error:  # the name does not resolve
            raise SendFailed(NOT_PERMITTED, f"{type(error).__name__}: {error}") from error
        except ssl.SSLCertVerificationError as error:
            raise SendFailed(
                "could not connect: the receiver's TLS certificate was not accepted",
                f"{type(error).__name__}: {error}",
            ) from error
        except ssl.SSLError as error:
            raise SendFailed("could not connect: the TLS handshake failed",
                             f"{type(error).__name__}: {error}") from error
        except ConnectionRefusedError as error:
            raise SendFailed("could not connect: the connection was refused",
                             f"{type(error).__name__}: {error}") from error
        except TimeoutError:
            raise
        except (OSError, RuntimeError) as error:
            # RuntimeError: aiohappyeyeballs' word for several failures not all OSErrors.
            raise SendFailed("could not connect", f"{type(error).__name__}: {error}") from error

    async def _open_connection(self, url: URL) -> _Connection:
        host, port = url.raw_host, url.port
        if host is None or port is None or url.scheme not in ("http", "https"):
            raise SendFailed("could not connect", f"not an http(s) URL with a host: {url}")
        addresses = await self._addresses(host, port)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
        if not self._allow_private:
            # Judged again here, whatever the resolver said: a literal IP host was never
            # resolved, and these are exactly the addresses about to be connected to.
            refused = {
                address[4][0]: reason for address in addresses
                if (reason := address_refusal(address[4][0])) is not None
            }
            if refused:
                addresses = [a for a in addresses if a[4][0] not in refused]
                if not addresses:
                    raise AddressRefused(host, refused)
        # Happy Eyeballs (RFC 8305), as aiohttp connects: IPv6 and IPv4 interleaved, the
        # next address tried a quarter of a second after the one before if it hangs.
        sock = await aiohappyeyeballs.start_connection(
            addresses, happy_eyeballs_delay=0.25, interleave=1
        )
        connection = _Connection(_key(url), self._open.add, self._open.discard)
        tls = url.scheme == "https"
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: connection,
                sock=sock,
                ssl=(self._ssl_context or _default_tls()) if tls else None,
                # A name's final dot is no part of the name its certificate is for.
                server_hostname=host.rstrip(".") if tls else None,
            )
        except BaseException:
            sock.close()
            raise
        if connection.closed:  # the receiver spoke before it was asked, or hung up
            raise SendFailed(
                UNREADABLE_ANSWER if connection.spoke_unasked else CLOSED_WITHOUT_ANSWERING,
                "the connection closed as it opened",
            )
        return connection

    async def _addresses(self, host: str, port: int) -> _AddrInfos:
        """Where ``host`` may be connected to. A name is resolved once for every attempt
        that needs it at the same moment, and its answer used for DNS_SECONDS: each lookup
        takes one of the event loop's few threads (the C library's resolver blocks), and
        a receiver's many messages due at once must not take them all."""
        literal = _literal_family(host)
        if literal is not None:
            return [(literal, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
        key = (host, port)
        now = time.monotonic()
        known = self._resolved.get(key)
        if known is not None and now - known[0] < DNS_SECONDS:
            return known[1]
        lookup = self._resolving.get(key)
        if lookup is None:
            lookup = self._resolving[key] = asyncio.ensure_future(self._resolve(host, port))
            lookup.add_done_callback(functools.partial(self._resolved_now, key))
        return await asyncio.shield(lookup)  # another attempt may still want its answer

    async def _resolve(self, host: str, port: int) -> _AddrInfos:
        answers = await self._resolver.resolve(host, port, family=socket.AF_UNSPEC)
        return [
            (answer["family"], socket.SOCK_STREAM, answer["proto"], "",
             (answer["host"], answer["port"]))
            for answer in answers
        ]

    def _resolved_now(self, key: tuple[str, int], lookup: asyncio.Future[_AddrInfos]) -> None:
        del self._resolving[key]
        if lookup.cancelled() or lookup.exception() is not None:
            return  # a failure is not kept: the next attempt asks again
        if len(self._resolved) >= 4_096:
            self._resolved.clear()
        self._resolved[key] = (time.monotonic(), lookup.result())

    def _head_of(self, url: URL) -> bytes:
        head = self._heads.get(url)
        if head is None:
            if len(self._heads) >= 4_096:
                self._heads.clear()
            # yarl keeps the raw (percent-encoded, IDNA) forms: no space, CR or LF in them.
            head = self._heads[url] = (
                f"POST {url.raw_path_qs or '/'} HTTP/1.1\r\n"
                f"Host: {url.host_port_subcomponent}\r\n"
                f"User-Agent: {self._user_agent}\r\n"
                "Content-Type: application/json\r\n"
            ).encode("ascii")
        return head


def _key(url: URL) -> tuple[str, str, int]:
    return (url.scheme, url.raw_host or "", url.port or 0)


def _literal_family(host: str) -> int | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            socket.inet_pton(family, host)
            return family
    return None


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The system's trust store, certificates and host names verified; made once for the
    process (loading the trust store takes milliseconds)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])  # as aiohttp offers it
    return context


class _Connection(asyncio.Protocol):
    """One connection to a receiver and the exchange under way on it, if any."""

    def __init__(
        self,
        key: tuple[str, str, int],
        opened: Callable[[_Connection], None],
        closed: Callable[[_Connection], None],
    ) -> None:
        """``opened`` and ``closed`` are told once each: as the connection is made, and
        as it closes (whichever side closes it)."""
        self.key = key
        self.closed = False
        self.idle_since = 0.0
        self._on_opened = opened
        self._on_closed = closed
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        # What aiohttp's parser lets through too: receivers that answered it must not
        # fail here (a bare LF ending a line, a control character in a header …).
        self._parser.set_dangerous_leniencies(
            lenient_headers=True,
            lenient_optional_cr_before_lf=True,
            lenient_spaces_after_chunk_size=True,
        )
        self.spoke_unasked = False
        self._answer: asyncio.Future[tuple[Answer, bool]] | None = None
        self._status = 0
        self._retry_after: str | None = None
        self._body = bytearray()
        self._received = False  # any byte of an answer to the exchange under way
        self._head_bytes = 0  # bytes of the answer before its body
        self._interim = 0  # interim answers read
        self._in_body = False

    async def exchange(self, request: bytes, deadline: float) -> tuple[Answer, bool]:
        """Write ``request`` and wait for its answer, until ``deadline`` (the loop's time);
        the answer, and whether the connection may carry another."""
        if self.closed or self._transport is None or self._transport.is_closing():
            # Closed by the receiver, its news not yet in: nothing was sent on it.
            raise _Unanswered(CLOSED_WITHOUT_ANSWERING, "the connection was already closed")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[Answer, bool]] = loop.create_future()
        self._answer = answer
        self._status, self._retry_after = 0, None
        self._body.clear()
        self._received = False
        self._head_bytes, self._interim, self._in_body = 0, 0, False
        self._transport.write(request)
        timer = loop.call_at(deadline, self._time_out)
        try:
            return await answer
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()
        self._closed_now()

    def abort(self) -> None:
        """Closed mid-exchange: nothing more is read, not even TLS's goodbye."""
        if self._transport is not None and not self.closed:
            self._transport.abort()
        self._closed_now()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream's transport (uvloop's is not a subclass of asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        self._on_opened(self)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            # Nothing was asked: whatever this is, the connection is spent.
            self.spoke_unasked = True
            self.abort()
            return
        self._received = True
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > ANSWER_HEAD_BYTES:
                self._fail(UNREADABLE_ANSWER, f"more than {ANSWER_HEAD_BYTES} bytes of head")
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UNREADABLE_ANSWER, "the receiver switched protocols")
        except httptools.HttpParserError as error:
            self._fail(UNREADABLE_ANSWER, f"{type(error).__name__}: {error}")

    def connection_lost(self, exc: Exception | None) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            detail = f"connection lost: {exc!r}" if exc else "connection closed"
            if self._status >= 200:  # an answer whose body ends with the connection
                answer.set_result((self._answered(), False))
            elif not self._received:
                answer.set_exception(_Unanswered(CLOSED_WITHOUT_ANSWERING, detail))
            else:
                self._fail(CLOSED_WITHOUT_ANSWERING, detail)
        self._closed_now()

    # -- httptools' callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():
            # A second answer to one request: the receiver is out of step with us.
            self.spoke_unasked = True
            self.abort()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._in_body = self._status >= 200

    def on_body(self, body: bytes) -> None:
        room = SNIPPET_BYTES - len(self._body)
        if len(body) < room:
            self._body += body
            return
        self._body += body[:room]
        # Enough of it: the rest is not read, so the connection cannot be used again.
        self._finish(reusable=False)
        self.abort()

    def on_message_complete(self) -> None:
        if self._status < 200:  # an interim answer (100 Continue, 103 Early Hints …)
            self._interim += 1
            if self._interim > INTERIM_ANSWERS:
                self._fail(UNREADABLE_ANSWER, f"more than {INTERIM_ANSWERS} interim answers")
                return
            self._status, self._retry_after = 0, None
            self._body.clear()
            return
        self._finish(reusable=self._parser.should_keep_alive())

    # -- the exchange's end ----------------------------------------------------------------------

    def _answered(self) -> Answer:
        return Answer(self._status, self._retry_after, bytes(self._body))

    def _finish(self, *, reusable: bool) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._answered(), reusable))

    def _fail(self, owner_text: str, detail: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(SendFailed(owner_text, detail))
        self.abort()

    def _time_out(self) -> None:
        if self._answer is not None and not self._answer.done():
            if self._status >= 200:
                # The status is in; only the body was still coming. The status decides
                # the outcome, and a body cut short only shortens the snippet.
                self._answer.set_result((self._answered(), False))
            else:
                self._answer.set_exception(TimeoutError())
        self.abort()

    def _closed_now(self) -> None:
        if not self.closed:
            self.closed = True
            if self._transport is not None:  # told it opened, so told it closed
                self._on_closed(self)
