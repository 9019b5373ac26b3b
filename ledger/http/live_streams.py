"""The live streams open on this instance: how many each account holds, and ending them.

* **A cap per account.** An account holds at most ``LEDGER_LIVE_STREAMS_PER_ACCOUNT``
  streams open at once; one more is refused (429, ``too_many_live_streams``) before
  anything is read. The count is this instance's: behind a load balancer an account may
  hold that many on each instance. A stream whose page went away is not counted: aiohttp
  notices a closed connection only when it next writes, so the count looks at the
  connections themselves.
* **Ending with the credential.** A stream ends at once when its session is signed out or
  its API token revoked in this process (``Sessions.when_ended``,
  ``ApiTokens.when_revoked``); a sign-out elsewhere is noticed when the stream asks again
  (before each message and at each keep-alive, see live.py).
* **Shutdown** ends every stream, so stopping the service does not wait on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from ledger.errors import TooMany
from ledger.http.identity import Identity
from ledger.store.wakeups import Wakeup, WakeupHub


class TooManyLiveStreams(TooMany):
    code = "too_many_live_streams"


@dataclass(eq=False)
class LiveStream:
    """One open stream: whose it is, what wakes it, and the work it has caused."""

    identity: Identity
    wakeup: Wakeup
    # Whether the page is still connected (a closed connection is noticed at once here).
    connected: Callable[[], bool] = field(repr=False)
    ended: bool = False
    # Times it woke and looked, and polycules whose events it read: what it cost.
    rounds: int = 0
    reads: int = 0

    def end(self) -> None:
        self.ended = True
        self.wakeup.set()


class OpenStreams:
    def __init__(self, hub: WakeupHub, *, per_account: int) -> None:
        self._hub = hub
        self._per_account = per_account
        self._streams: set[LiveStream] = set()
        self._closing = False

    def open(
        self, identity: Identity, polycules: Iterable[UUID], connected: Callable[[], bool]
    ) -> LiveStream:
        """A stream for ``identity``, woken by appends to ``polycules``; close it after."""
        for gone in [stream for stream in self._streams if not stream.connected()]:
            gone.end()
            self._streams.discard(gone)
        if len(self.of_account(identity.account_id)) >= self._per_account:
            raise TooManyLiveStreams(
                f"this account already has {self._per_account} live streams open; "
                "close one (a page, or a client's stream) and try again",
                details={"limit": self._per_account},
            )
        stream = LiveStream(identity, self._hub.subscribe(polycules), connected)
        self._streams.add(stream)
        if self._closing:
            stream.end()
        return stream

    def follow(self, stream: LiveStream, polycules: Iterable[UUID]) -> None:
        """The stream is woken by appends to ``polycules`` from now on."""
        self._hub.follow(stream.wakeup, polycules)

    def close(self, stream: LiveStream) -> None:
        self._streams.discard(stream)
        self._hub.unsubscribe(stream.wakeup)

    def of_account(self, account_id: UUID) -> list[LiveStream]:
        return [stream for stream in self._streams if stream.identity.account_id == account_id]

    def end_session(self, session_id: UUID) -> None:
        for stream in self._streams:
            if stream.identity.session_id == session_id:
                stream.end()

    def end_token(self, token_id: UUID) -> None:
        for stream in self._streams:
            if stream.identity.token_id == token_id:
                stream.end()

    def end_all(self) -> None:
        self._closing = True
        for stream in self._streams:
            stream.end()
