"""Webhooks over HTTP against the real app, delivered to a real receiver on loopback.

Four members register endpoints, then live a little: a polycule is founded and joined, an
agreement is proposed, consented to, ratified and revoked, another proposal is objected
to, a disclosure is made to one member. The receiver fails each message's first attempt
with a 500 and its second by answering after the timeout, then accepts; the test moves
the app's clock through the retry schedule (immediately, 5 s, 5 min) instead of waiting.
Every member is told exactly what concerns them and what they may see, once per
``webhook-id``, never of what they did themselves, in thin signed messages; the delivery
log shows every try.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ledger.app import create_app
from ledger.config import Settings
from ledger.http.account_routes import AUTH_POLICY
from ledger.http.keys import CLOCK, WEBHOOK_DELIVERY, WEBHOOK_FANOUT
from ledger.privacy import MasterKey
from ledger.transparency.signing import new_private_key_text
from tests.http.accounts_support import TEST_POLICY
from tests.http.conftest import TravellingClock
from tests.http.people import Person, person
from tests.http.polycules import polycule_of
from tests.http.support import MAX_REQUEST_BYTES, Client, error_of

TIMEOUT_SECONDS = 1.0
# The receiver's second answer comes this long after the request: past the timeout.
HANG_SECONDS = TIMEOUT_SECONDS + 0.6
# The app's clock starts this far behind real time, so that after it has been moved on
# through the 5 s and 5 min retries the accepted attempts are signed near real time, as
# the standardwebhooks verifier insists (5 minutes' tolerance against the wall clock).
START_BEHIND = timedelta(minutes=8)

ENDPOINTS = "/api/webhooks/endpoints"

POLYCULE_NAME = "Moonlit Otters Collective"
TITLE = "Sunday mornings belong to us"
TERMS = "Sunday mornings are for the three of us, phones off, until noon."
IF_BROKEN = "We sit down within a day and talk it through."
OTHER_TITLE = "Weeknight sleepovers"
OTHER_TERMS = "Two weeknight sleepovers a month at most, arranged a week ahead."
OBJECTION = "A week ahead is more planning than I can promise."
REVOCATION = "My shifts changed and I can no longer keep Sundays."
DISCLOSURE = "I started seeing someone from the climbing gym last Thursday."
INVITATION_NOTE = "Welcome to the otters"


def settings_for(*, allow_private: bool, allow_http: bool) -> Settings:
    """tests/http/conftest.py's settings, with this module's webhook settings."""
    return Settings(
        max_request_bytes=MAX_REQUEST_BYTES,
        pool_min_size=1,
        pool_max_size=4,
        projection_poll_seconds=0.05,
        shutdown_timeout_seconds=2.0,
        webhook_timeout_seconds=TIMEOUT_SECONDS,
        webhooks_allow_private=allow_private,
        webhooks_allow_http=allow_http,
        master_key=MasterKey.generate().to_base64(),
        checkpoint_key=new_private_key_text(),
    )


@pytest.fixture
def settings() -> Settings:
    # Test-only: the receiver is plain http on loopback.
    return settings_for(allow_private=True, allow_http=True)


@pytest.fixture
def clock() -> TravellingClock:
    behind = TravellingClock()
    behind.shift = -START_BEHIND
    return behind


# -- the receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    label: str  # whose receiver: one site (port) per member, one path per label
    message_id: str
    headers: dict[str, str]
    body: str
    nth: int  # how many times this webhook-id had arrived, this one included
    answered: int


class Receiver:
    """Members' receivers: one loopback port each (a burst to one host is not held up by
    the delivery connector's per-host limit). Each message is answered 500 the first
    time, after the timeout the second, then 200; ``gone`` always answers 410. What was
    accepted is de-duplicated on webhook-id, as the documentation asks receivers to."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.accepted: dict[str, Receipt] = {}  # webhook-id: its first accepted receipt
        self.urls: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        label = request.match_info["label"]
        body = await request.text()
        message_id = request.headers["webhook-id"]
        nth = 1 + sum(1 for receipt in self.receipts if receipt.message_id == message_id)
        if label == "gone":
            status = 410
        elif nth == 1:
            status = 500
        elif nth == 2:
            status = 503  # never seen by the ledger: it gave up waiting
        else:
            status = 200
        receipt = Receipt(label, message_id, dict(request.headers), body, nth, status)
        self.receipts.append(receipt)
        if nth == 2 and label != "gone":
            await asyncio.sleep(HANG_SECONDS)
        if status == 200:
            self.accepted.setdefault(message_id, receipt)
        return web.Response(status=status, text=f"answered {status}")

    def of(self, message_id: str) -> list[Receipt]:
        return [receipt for receipt in self.receipts if receipt.message_id == message_id]

    def labelled(self, label: str) -> list[Receipt]:
        return [receipt for receipt in self.receipts if receipt.label == label]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiving = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{label}", receiving.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    labels = ("ash", "bo", "cy", "di", "gone")
    for label in labels:
        before = set(runner.addresses)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        [(host, port)] = [address[:2] for address in runner.addresses if address not in before]
        receiving.urls[label] = f"http://{host}:{port}/hook/{label}"
    try:
        yield receiving
    finally:
        await runner.cleanup()


# -- helpers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    endpoint_id: str
    secret: str


async def register(member: Person, url: str, **options: Any) -> Hook:
    created = await member.json("POST", ENDPOINTS, 201, json={"url": url, **options})
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True and created["url"] == url
    return Hook(created["endpoint_id"], created["secret"])


async def messages_of(member: Person, hook: Hook) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = await member.json(
        "GET", f"{ENDPOINTS}/{hook.endpoint_id}/messages?limit=500"
    )
    return log


async def settle(
    client: Client, condition: Callable[[], Awaitable[bool]], seconds: float = 20.0
) -> None:
    """Deliver what is due (beside the app's own worker) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        assert loop.time() < deadline, "timed out waiting for deliveries"
        await client.app[WEBHOOK_DELIVERY].deliver_due()
        await asyncio.sleep(0.05)


async def fanned_out(client: Client) -> None:
    await client.app[WEBHOOK_FANOUT].catch_up_now()


def signed_with(secret: str, receipt: Receipt) -> bool:
    """Whether ``secret`` made one of the receipt's signatures, whatever its timestamp's age
    (``Webhook.verify`` also insists on a timestamp within 5 minutes of the wall clock)."""
    sent_at = datetime.fromtimestamp(int(receipt.headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(receipt.message_id, sent_at, receipt.body)
    return expected in receipt.headers["webhook-signature"].split(" ")


# Only ids, a type, a time and a link: never anyone's words.
THIN_DATA_KEYS = {
    "event_id", "polycule_id", "link", "proposal_id", "agreement_id", "version",
    "disclosure_id", "member_id",
}


# -- the journey ----------------------------------------------------------------------------


async def test_members_are_told_what_concerns_them_through_failures_once_signed_and_thin(
    client: Client, clock: TravellingClock, receiver: Receiver
) -> None:
    async with person(client) as ash, person(client) as bo, person(client) as cy, \
            person(client) as di:
        members = {"ash": ash, "bo": bo, "cy": cy, "di": di}
        label_of = {str(m.account_id): label for label, m in members.items()}
        hooks = {
            label: await register(m, receiver.urls[label], description=f"{label}'s phone")
            for label, m in members.items()
        }
        gone = await register(ash, receiver.urls["gone"], event_types=["member.joined"])

        # -- what happens -------------------------------------------------------------------
        polycule = (await ash.json(
            "POST", "/api/polycules", 201, json={"name": POLYCULE_NAME}
        ))["id"]
        base = f"/api/polycules/{polycule}"
        for newcomer in (bo, cy, di):
            invitation = await ash.json(
                "POST", f"{base}/invitations", 201, json={"note": INVITATION_NOTE}
            )
            await newcomer.json("POST", f"/api/invitations/{invitation['token']}/accept", json={})
            await fanned_out(client)
            if newcomer is bo:
                # The receiver behind ash's second endpoint answers 410 Gone: the endpoint
                # is disabled, and hears nothing more.
                await settle(client, lambda: _disabled(ash, gone))

        trio = [str(m.account_id) for m in (ash, bo, cy)]
        sundays = await ash.json("POST", f"{base}/proposals", 201, json={
            "kind": "create", "title": TITLE, "terms": TERMS, "category": "time",
            "parties": trio, "if_broken": IF_BROKEN,
        })
        consent = f"{base}/proposals/{sundays['proposal_id']}/consent"
        await bo.json("POST", consent, json={"revision": 1})
        ratified = await cy.json("POST", consent, json={"revision": 1})
        assert ratified["status"] == "ratified"
        await fanned_out(client)

        sleepovers = await di.json("POST", f"{base}/proposals", 201, json={
            "kind": "create", "title": OTHER_TITLE, "terms": OTHER_TERMS, "category": "time",
            "parties": [str(di.account_id), str(bo.account_id)],
        })
        rejected = await bo.json(
            "POST", f"{base}/proposals/{sleepovers['proposal_id']}/object",
            json={"revision": 1, "reason": OBJECTION},
        )
        assert rejected["status"] == "rejected"

        # Cy tells Ash only; Bo and Di are outside the audience.
        disclosure = await cy.json("POST", f"{base}/disclosures", 201, json={
            "kind": "new_connection", "text": DISCLOSURE, "audience": "chosen",
            "recipients": [str(ash.account_id)],
        })

        agreement_id = sundays["agreement_id"]
        ended = await bo.json(
            "POST", f"{base}/agreements/{agreement_id}/revoke", json={"note": REVOCATION}
        )
        assert ended["status"] == "ended"
        await fanned_out(client)

        # -- what each member should be told ----------------------------------------------
        audit = await ash.json("GET", f"{base}/events?limit=1000")
        events = {entry["event_id"]: entry for entry in audit["events"]}
        assert all(entry["readable"] for entry in audit["events"])

        def event_of(event_type: str, **data: str) -> str:
            [found] = [
                entry["event_id"] for entry in audit["events"]
                if entry["event_type"] == event_type
                and all(entry["data"].get(key) == value for key, value in data.items())
            ]
            return str(found)

        def joined(m: Person) -> str:
            return event_of("MemberJoined", member_id=str(m.account_id))

        told: list[tuple[str, str, str]] = []  # (member, type, event_id)

        def tell(event_id: str, webhook_type: str, *whom: str) -> None:
            told.extend((label, webhook_type, event_id) for label in whom)

        tell(joined(bo), "member.joined", "ash")
        tell(joined(cy), "member.joined", "ash", "bo")
        tell(joined(di), "member.joined", "ash", "bo", "cy")
        tell(event_of("AgreementProposed", proposal_id=sundays["proposal_id"]),
             "proposal.awaiting_consent", "bo", "cy")
        tell(event_of("AgreementRatified", agreement_id=agreement_id),
             "agreement.ratified", "ash", "bo")
        tell(event_of("AgreementProposed", proposal_id=sleepovers["proposal_id"]),
             "proposal.awaiting_consent", "bo")
        tell(event_of("ProposalRejected", proposal_id=sleepovers["proposal_id"]),
             "proposal.closed", "di")
        tell(event_of("DisclosureMade", disclosure_id=disclosure["disclosure_id"]),
             "disclosure.shared_with_you", "ash")
        tell(event_of("AgreementEnded", agreement_id=agreement_id),
             "agreement.ended", "ash", "cy")
        expected = Counter(told)
        assert len(expected) == len(told) == 15

        # -- through the retry schedule ----------------------------------------------------
        async def every_message_tried(times: int) -> bool:
            logs = [await messages_of(members[label], hook) for label, hook in hooks.items()]
            count = sum(len(log) for log in logs)
            return count == len(told) and all(
                len(message["log"]) >= times for log in logs for message in log
            )

        async def all_succeeded() -> bool:
            logs = [await messages_of(members[label], hook) for label, hook in hooks.items()]
            return all(message["status"] == "succeeded" for log in logs for message in log)

        await settle(client, lambda: every_message_tried(1))  # at once: 500
        clock.advance(seconds=5 * 1.2 + 0.5)
        await settle(client, lambda: every_message_tried(2))  # after 5 s: timed out
        clock.advance(minutes=5 * 1.2, seconds=10)
        await settle(client, all_succeeded)  # after 5 min: accepted
        assert abs(clock.shift) < timedelta(minutes=3)  # the verifier's tolerance holds

        # -- what arrived ------------------------------------------------------------------
        arrived = Counter(
            (receipt.label, payload["type"], payload["data"]["event_id"])
            for receipt in receiver.accepted.values()
            for payload in [json.loads(receipt.body)]
        )
        assert arrived == expected  # each exactly once per webhook-id after de-duplication
        for receipt in receiver.accepted.values():
            # Never told of what they did themselves.
            actor = events[json.loads(receipt.body)["data"]["event_id"]]["metadata"]["actor"]
            assert label_of[actor] != receipt.label
        # Only Ash, in the audience, hears of the disclosure.
        assert {
            receipt.label for receipt in receiver.receipts
            if "disclosure" in json.loads(receipt.body)["type"]
        } == {"ash"}

        # -- signed, thin, and the log shows every try --------------------------------------
        private = [
            POLYCULE_NAME, TITLE, TERMS, IF_BROKEN, OTHER_TITLE, OTHER_TERMS, OBJECTION,
            REVOCATION, DISCLOSURE, INVITATION_NOTE, "otters", "Sunday",
            *(m.display_name for m in members.values()), *(m.handle for m in members.values()),
        ]
        for receipt in receiver.receipts:
            for text in private:
                assert text not in receipt.body, (text, receipt.body)
            payload = json.loads(receipt.body)
            assert set(payload) == {"type", "timestamp", "data"}
            assert set(payload["data"]) <= THIN_DATA_KEYS, payload
            assert payload["data"]["polycule_id"] == polycule
            assert payload["data"]["link"].startswith(f"{base}/")

        for label, hook in hooks.items():
            log = await messages_of(members[label], hook)
            assert {m["message_id"] for m in log} == {
                r.message_id for r in receiver.accepted.values() if r.label == label
            }
            for message in log:
                tries = message["log"]
                assert message["status"] == "succeeded" and message["attempts"] == 3
                assert [(t["attempt"], t["status_code"]) for t in tries] == [
                    (1, 500), (2, None), (3, 200)
                ], tries
                assert tries[0]["response_snippet"] == "answered 500"
                assert tries[0]["error"] is None
                assert "timed out" in tries[1]["error"]
                assert tries[1]["duration_ms"] >= TIMEOUT_SECONDS * 1000 * 0.9
                assert tries[2]["error"] is None
                assert tries[2]["response_snippet"] == "answered 200"

                receipts = receiver.of(message["message_id"])
                assert [r.nth for r in receipts] == [1, 2, 3]
                # The same webhook-id and body on every attempt.
                assert len({r.body for r in receipts}) == 1
                assert json.loads(receipts[0].body) == message["payload"]
                # A fresh timestamp on each attempt: the attempt's own time.
                stamps = [int(r.headers["webhook-timestamp"]) for r in receipts]
                assert stamps == [
                    int(datetime.fromisoformat(t["attempted_at"]).timestamp()) for t in tries
                ]
                assert all(signed_with(hook.secret, r) for r in receipts)
                accepted = receipts[-1]
                verified = Webhook(hook.secret).verify(accepted.body, accepted.headers)
                assert verified == message["payload"]
                for other, other_hook in hooks.items():
                    if other != label:
                        with pytest.raises(WebhookVerificationError):
                            Webhook(other_hook.secret).verify(accepted.body, accepted.headers)

        # The link leads to the details, for the member told and for nobody else.
        [told_of] = [r for r in receiver.accepted.values() if r.label == "ash"
                     and json.loads(r.body)["type"] == "disclosure.shared_with_you"]
        link = json.loads(told_of.body)["data"]["link"]
        assert (await ash.json("GET", link))["text"] == DISCLOSURE
        assert (await bo.request("GET", link)).status == 404

        # -- 410 Gone disabled the other endpoint, after one try -----------------------------
        shown = await ash.json("GET", f"{ENDPOINTS}/{gone.endpoint_id}")
        assert (shown["enabled"], shown["disabled_reason"]) == (False, "gone")
        [sent_to_gone] = await messages_of(ash, gone)
        assert sent_to_gone["type"] == "member.joined"
        assert sent_to_gone["payload"]["data"]["member_id"] == str(bo.account_id)
        assert sent_to_gone["status"] == "failed"
        assert [(t["attempt"], t["status_code"]) for t in sent_to_gone["log"]] == [(1, 410)]
        assert [r.answered for r in receiver.labelled("gone")] == [410]

        # -- a rotation: both secrets sign; send again: the same webhook-id again -------------
        rotated = await ash.json(
            "POST", f"{ENDPOINTS}/{hooks['ash'].endpoint_id}/rotate-secret",
            json={"overlap_hours": 24},
        )
        new_secret = rotated["secret"]
        assert new_secret.startswith("whsec_") and new_secret != hooks["ash"].secret
        again = next(
            r for r in receiver.accepted.values()
            if r.label == "ash" and json.loads(r.body)["type"] == "agreement.ratified"
        )
        answer = await ash.request(
            "POST",
            f"{ENDPOINTS}/{hooks['ash'].endpoint_id}/messages/{again.message_id}/send-again",
            json={},
        )
        assert answer.status == 202, await answer.text()

        async def sent_again() -> bool:
            log = await messages_of(ash, hooks["ash"])
            [message] = [m for m in log if m["message_id"] == again.message_id]
            return len(message["log"]) == 4 and message["status"] == "succeeded"

        await settle(client, sent_again)
        [*_, fourth] = receiver.of(again.message_id)
        assert fourth.nth == 4 and fourth.answered == 200
        assert fourth.headers["webhook-id"] == again.message_id
        assert fourth.body == again.body
        assert len(fourth.headers["webhook-signature"].split(" ")) == 2
        for secret in (hooks["ash"].secret, new_secret):
            assert Webhook(secret).verify(fourth.body, fourth.headers) == json.loads(again.body)
        # Still exactly once per webhook-id after de-duplication.
        assert len(receiver.accepted) == len(told)
        log = await messages_of(ash, hooks["ash"])
        [message] = [m for m in log if m["message_id"] == again.message_id]
        assert [(t["attempt"], t["status_code"]) for t in message["log"]] == [
            (1, 500), (2, None), (3, 200), (4, 200)
        ]


async def test_another_member_can_neither_see_nor_touch_my_endpoint(
    client: Client, receiver: Receiver
) -> None:
    async with person(client) as ash, person(client) as bo:
        hook = await register(ash, receiver.urls["ash"], description="ash's phone")
        await polycule_of(ash, bo)
        await fanned_out(client)
        [message] = await messages_of(ash, hook)  # bo joined: ash is told
        path = f"{ENDPOINTS}/{hook.endpoint_id}"

        assert await bo.json("GET", ENDPOINTS) == []
        attempts = [
            ("GET", path, None),
            ("PATCH", path, {"url": receiver.urls["bo"], "enabled": False}),
            ("POST", f"{path}/rotate-secret", {"overlap_hours": 0}),
            ("GET", f"{path}/messages", None),
            ("POST", f"{path}/messages/{message['message_id']}/send-again", {}),
            ("POST", f"{path}/replay", {"since": "2000-01-01T00:00:00+00:00"}),
            ("DELETE", path, None),
        ]
        for method, target, body in attempts:
            refused = await bo.request(method, target, json=body)
            assert refused.status == 404, (method, target, await refused.text())
            assert error_of(await refused.json())["code"] == "not_found"

        # Nothing changed: same address, still enabled, the secret still the one that signs.
        shown = await ash.json("GET", path)
        assert (shown["url"], shown["enabled"]) == (receiver.urls["ash"], True)
        [still] = await messages_of(ash, hook)
        assert still["message_id"] == message["message_id"]
        await settle(client, lambda: _tried(ash, hook))
        [first] = receiver.of(message["message_id"])
        assert signed_with(hook.secret, first)


async def _disabled(member: Person, hook: Hook) -> bool:
    shown = await member.json("GET", f"{ENDPOINTS}/{hook.endpoint_id}")
    return shown["enabled"] is False


async def _tried(member: Person, hook: Hook) -> bool:
    return all(m["log"] for m in await messages_of(member, hook))


# -- no aiming inward -------------------------------------------------------------------------


@pytest.fixture
async def guarded_client(
    database_url: str, aiohttp_client: AiohttpClient
) -> Client:
    """The app as deployed: private addresses refused (plain http allowed, so that an
    http address is refused for where it points, not for its scheme)."""
    app = create_app(settings_for(allow_private=False, allow_http=True), database_url)
    app[CLOCK] = TravellingClock()
    app[AUTH_POLICY] = TEST_POLICY
    return await aiohttp_client(app)


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/",
    "https://169.254.169.254/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://localhost/",
    "https://127.0.0.1:8443/hook",
    "https://api.localhost/hook",
])
async def test_an_endpoint_aimed_inward_is_refused(guarded_client: Client, url: str) -> None:
    async with person(guarded_client) as ash:
        refused = await ash.request("POST", ENDPOINTS, json={"url": url})

        assert refused.status in (400, 422), await refused.text()
        error = error_of(await refused.json())
        assert error["code"] == "invalid_input"
        assert error["details"].get("field") == "url", error
        assert await ash.json("GET", ENDPOINTS) == []
        # Nor can an endpoint be moved there afterwards.
        public = await register(ash, "https://hooks.example.com/ledger")
        moved = await ash.request(
            "PATCH", f"{ENDPOINTS}/{public.endpoint_id}", json={"url": url}
        )
        assert moved.status in (400, 422), await moved.text()
        shown = await ash.json("GET", f"{ENDPOINTS}/{public.endpoint_id}")
        assert shown["url"] == "https://hooks.example.com/ledger"
