"""Answers that a polycule's members read again and again, kept per version of it.

Every member's phone and browser asks for the same few views of their polycule — the
agreements in force, one agreement, its history, the polycule itself and its members — far
more often than anything changes there. A view marked ``@kept_per_version`` answers from
its polycule's read models and folded state alone: the same bytes to every member the
policy lets at it (ledger/auth/policy.py decides before any view runs, on every request),
whatever the hour. So its answer to one path and query stays right for as long as the
polycule's stream and read models stand at the same versions, which the request learns in
its credential's own round trip (``POLYCULE_POSITION``, ledger/http/identity.py). An
instance keeps the answer it made there and gives it again, without reading the read
models or opening their words again, until either moves on.

A kept answer holds opened words, so it is kept under the keyring's rule for opened texts
(docs/privacy.md, "In memory"): forgotten the moment this process hears of any erasure, and
after ``recheck_seconds`` in any case. At most ``capacity_bytes`` of answers are kept; the
least recently given go first.

The versions read with the credential may be older than what the view then reads (a
command landed between the two): the answer is then kept under the older versions, and is
newer than any request seeing those versions could have had. Never older.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from ledger.http.identity import POLYCULE_POSITION
from ledger.http.middleware import route_template
from ledger.privacy import KeyRing, OpenedAt

# Enough for the hot views of a few thousand polycules; a polycule's agreements in force are
# a few kilobytes.
DEFAULT_CAPACITY_BYTES = 32 * 1024 * 1024

# Which view, of which polycule, at which versions of its stream and read models, with which
# query.
_Key = tuple[str, str, int, int, str]


@dataclass(frozen=True)
class _Kept:
    body: bytes
    # Every header the view set (its content type among them), as it set them.
    headers: tuple[tuple[str, str], ...]
    opened: OpenedAt


class KeptAnswers:
    """This instance's kept answers (see the module's text)."""

    def __init__(self, keyring: KeyRing, *, capacity_bytes: int = DEFAULT_CAPACITY_BYTES) -> None:
        self._keyring = keyring
        self._capacity_bytes = capacity_bytes
        self._bytes = 0
        self._kept: OrderedDict[_Key, _Kept] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def opened_now(self) -> OpenedAt:
        return self._keyring.opened_now()

    def answer(self, key: _Key) -> web.Response | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if not self._keyring.still_keeps(kept.opened):
            self._forget(key)
            return None
        self._kept.move_to_end(key)
        return web.Response(body=kept.body, headers=CIMultiDict(kept.headers))

    def keep(self, key: _Key, response: web.Response, opened: OpenedAt) -> None:
        body = response.body
        if not isinstance(body, bytes) or len(body) > self._capacity_bytes // 16:
            return
        if key in self._kept:
            self._forget(key)
        headers = tuple(
            (name, value) for name, value in response.headers.items()
            if name.lower() != "content-length"
        )
        self._kept[key] = _Kept(body, headers, opened)
        self._bytes += len(body)
        while self._bytes > self._capacity_bytes:
            self._forget(next(iter(self._kept)))

    def _forget(self, key: _Key) -> None:
        self._bytes -= len(self._kept.pop(key).body)


KEPT_ANSWERS = web.AppKey("kept_answers", KeptAnswers)


View = Callable[[web.Request], Awaitable[web.Response]]


def kept_per_version(view: View) -> View:
    """Mark a read view whose answer depends on nothing but its polycule's read models, its
    path and its query — not on who asks, nor when (see the module's text). Only for a
    view every member may read alike (``Rule.POLYCULE_MEMBER``, ledger/auth/policy.py): a
    test holds every marked route to it."""

    @functools.wraps(view)
    async def kept_or_made(request: web.Request) -> web.Response:
        position = request.get(POLYCULE_POSITION)
        kept_answers = request.app.get(KEPT_ANSWERS)
        # Only a GET: a command's answer is the same view read after it, which must not be
        # an answer kept from before it (the position was read before the command).
        if position is None or kept_answers is None or request.method != "GET":
            return await view(request)
        key = (
            route_template(request), request.match_info["polycule_id"],
            position.stream, position.views, request.query_string,
        )
        kept = kept_answers.answer(key)
        if kept is not None:
            return kept
        # Opened from now on: an erasure heard of while the view runs drops its answer.
        opened = kept_answers.opened_now()
        made = await view(request)
        if made.status == 200:
            kept_answers.keep(key, made, opened)
        return made

    kept_or_made.kept_per_version = True  # type: ignore[attr-defined]
    return kept_or_made


def is_kept_per_version(view: object) -> bool:
    return getattr(view, "kept_per_version", False) is True
