"""Mail notices over HTTP against the real app, sent to a real SMTP server on 127.0.0.1.

The server (aiosmtpd) keeps every message it accepts; the tests read what arrived, raw.
Members set their address over the API and confirm it by the link mailed to them; then
they live a little in a polycule with a distinctive name, and each is mailed what
concerns them — at once, or in the daily digest when the app's clock passes its hour —
and never anyone's words: no name of a person, no polycule name, no title or terms. The
one-click unsubscribe link is posted as a mail program posts it. Last, the SMTP server is
stopped while notices are made, and started again: every mail arrives, once.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ledger.config import Settings
from ledger.http.keys import MAIL_FANOUT, MAIL_SENDER, POOL, SUPERVISOR
from tests.http.conftest import TravellingClock
from tests.http.people import PASSWORD, Person, person
from tests.http.polycules import polycule_of
from tests.http.support import OPERATOR_TOKEN, Client

PUBLIC_URL = "https://ledger.test"
MAIL_FROM = "notices@ledger.test"
POLYCULE_NAME = "Moonlit Otters Collective"
TITLE = "Sunday mornings belong to us"
TERMS = "Sunday pancakes with the three of us, phones off, until noon."
OTHER_TITLE = "Weeknight sleepovers arranged ahead"
OTHER_TERMS = "Two weeknight sleepovers a month at most, arranged a week ahead."
# Every word a member wrote or is known by here: none may be in any mail.
ANA, BO, CY = "anastasia", "bartholomew", "cordelia"
THEIR_WORDS = [
    POLYCULE_NAME, "Moonlit", "Otters", TITLE, "pancakes", OTHER_TITLE, "sleepovers",
    ANA, BO, CY, ANA.capitalize(), BO.capitalize(), CY.capitalize(),
]
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/[^\s>]*)")


# -- a real SMTP server --------------------------------------------------------------------


@dataclass(frozen=True)
class Arrived:
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def links(self) -> list[str]:
        return LINK.findall(self.text)


class Mailbox:
    """What the SMTP server accepted, in order (handle_DATA runs on the server's thread)."""

    def __init__(self) -> None:
        self.arrived: list[Arrived] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        self.arrived.append(Arrived(list(envelope.rcpt_tos), content))
        return "250 OK"

    def to(self, address: str) -> list[Arrived]:
        return [mail for mail in self.arrived if address in mail.recipients]

    async def wait_for(
        self, address: str, count: int = 1, seconds: float = 30.0
    ) -> list[Arrived]:
        """The first ``count`` mails to ``address``, once they have arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.to(address)) < count:
            assert loop.time() < deadline, f"{count} mail(s) to {address} did not arrive"
            await asyncio.sleep(0.05)
        return self.to(address)[:count]


class SmtpServer:
    def __init__(self, port: int, mailbox: Mailbox) -> None:
        self.port = port
        self.mailbox = mailbox
        self._controller: Controller | None = None

    async def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
async def smtp(mailbox: Mailbox) -> AsyncIterator[SmtpServer]:
    server = SmtpServer(free_port(), mailbox)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """tests/http/conftest.py's settings, with mail on, through the server above."""
    return settings.model_copy(update={
        "public_url": PUBLIC_URL,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_tls": "none",
        "mail_from": MAIL_FROM,
        # Twelve hours from now: the test crosses the digest's hour only when it moves the
        # clock on by a day.
        "mail_digest_hour": (datetime.now(UTC).hour + 12) % 24,
    })


# -- helpers -------------------------------------------------------------------------------


def address_of(someone: Person) -> str:
    # Not the handle: an address is the member's own, and would name them anyway.
    return f"reader-{someone.account_id.hex[:8] if someone.account_id else 'x'}@mail.test"


async def form_post(session: aiohttp.ClientSession, client: Client, path: str,
                    **headers: str) -> aiohttp.ClientResponse:
    return await session.post(client.make_url(path), data={"List-Unsubscribe": "One-Click"},
                              headers=headers, allow_redirects=False)


async def confirmed(someone: Person, mailbox: Mailbox) -> Arrived:
    """Set ``someone``'s address and follow the link mailed to it; the confirmation mail."""
    address = address_of(someone)
    before = len(mailbox.to(address))
    view = await someone.json("PUT", "/api/account/email", json={"address": address})
    assert (view["address"], view["confirmed"]) == (address, False)
    mail = (await mailbox.wait_for(address, before + 1))[-1]
    [link] = mail.links()
    confirming = await someone.request("POST", link, data={"csrf_token": someone.csrf_token})
    assert confirming.status == 200, await confirming.text()
    assert (await someone.json("GET", "/api/account/email"))["confirmed"] is True
    return mail


async def fanned_out(client: Client) -> None:
    """Every event so far is fanned out into the outbox, polycule by polycule."""
    runner = client.app[MAIL_FANOUT]
    await runner.catch_up_now()
    assert await runner.polycules_behind() == 0


async def until(condition: Callable[[], Awaitable[Any]], what: str, seconds: float = 60) -> None:
    """Wait for ``condition`` to hold (a mail to arrive, a row to change)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


async def all_sent(client: Client) -> None:
    """Every event so far is fanned out, and nothing is left to send (a mail is marked sent
    only once the server accepted it: it has arrived)."""
    await fanned_out(client)

    async def nothing_pending() -> bool:
        return not await client.app[POOL].fetchval(
            "SELECT count(*) FROM mail_outbox WHERE status = 'pending'"
        )

    await until(nothing_pending, "mail was left unsent")


def without_their_words(mail: Arrived) -> None:
    seen = (mail.raw.decode("utf-8", errors="replace") + mail.text).lower()
    for words in THEIR_WORDS:
        assert words.lower() not in seen, (words, mail.text)


async def propose(proposer: Person, polycule_id: str, parties: list[Person],
                  title: str = TITLE, terms: str = TERMS) -> dict[str, Any]:
    proposal: dict[str, Any] = await proposer.json(
        "POST", f"/api/polycules/{polycule_id}/proposals", 201, json={
            "kind": "create", "title": title, "terms": terms,
            "parties": [str(member.account_id) for member in parties],
        })
    return proposal


@dataclass
class Otters:
    ana: Person
    bo: Person
    cy: Person
    polycule_id: str


@pytest.fixture
async def otters(client: Client, mailbox: Mailbox) -> AsyncIterator[Otters]:
    """Three members of one polycule, each with a confirmed address."""
    async with person(client, ANA) as ana, person(client, BO) as bo, person(client, CY) as cy:
        polycule_id = await polycule_of(ana, bo, cy, name=POLYCULE_NAME)
        for someone in (ana, bo, cy):
            await confirmed(someone, mailbox)
        yield Otters(ana, bo, cy, polycule_id)


# -- the tests -----------------------------------------------------------------------------


async def test_the_mailed_link_confirms_the_address_once_and_only_when_posted(
    client: Client, mailbox: Mailbox
) -> None:
    async with person(client, ANA) as ana:
        address = address_of(ana)
        view = await ana.json("PUT", "/api/account/email", json={"address": address})
        assert view == {"address": address, "confirmed": False, "confirmed_at": None,
                        "awaiting_confirmation": True, "mail_enabled": True}

        [mail] = await mailbox.wait_for(address)
        [link] = mail.links()
        assert link.startswith("/email/confirm/")
        assert mail.message["From"] == MAIL_FROM
        assert "Confirm your address" in mail.message["Subject"]
        without_their_words(mail)
        # Opening the link (as a mail scanner would) shows a button and changes nothing.
        async with aiohttp.ClientSession() as somewhere_else:
            page = await somewhere_else.get(client.make_url(link))
            assert page.status == 200
            assert "Confirm my address" in await page.text()
            assert (await ana.json("GET", "/api/account/email"))["confirmed"] is False
            # The token is the authority: whoever reads the mail confirms, signed in or not.
            posted = await somewhere_else.post(client.make_url(link), data={})
            assert posted.status == 200
            assert "Your address is confirmed" in await posted.text()
            again = await somewhere_else.post(client.make_url(link), data={})
            assert again.status == 404
        view = await ana.json("GET", "/api/account/email")
        assert (view["confirmed"], view["awaiting_confirmation"]) == (True, False)
        # An unconfirmed address gets nothing: one confirmation mail was all.
        await all_sent(client)
        assert len(mailbox.to(address)) == 1


async def test_a_proposal_awaiting_an_answer_is_mailed_at_once_without_anyones_words(
    client: Client, mailbox: Mailbox, otters: Otters
) -> None:
    proposal = await propose(otters.ana, otters.polycule_id, [otters.ana, otters.bo])

    [notice] = (await mailbox.wait_for(address_of(otters.bo), 2))[1:]
    message = notice.message
    assert message["Subject"] == (
        "Something in one of your polycules needs you: a proposal waits for your answer"
    )
    page = f"/polycules/{otters.polycule_id}/proposals/{proposal['proposal_id']}"
    assert notice.links()[0] == page
    assert re.fullmatch(r"<[0-9a-f-]{36}@ledger\.test>", message["Message-ID"])
    without_their_words(notice)
    # The link leads to the proposal, for the member signed in.
    assert (await otters.bo.request("GET", page)).status == 200
    # The proposer is not told of her own proposal; who is not a party is not told either.
    await all_sent(client)
    assert len(mailbox.to(address_of(otters.ana))) == 1
    assert len(mailbox.to(address_of(otters.cy))) == 1


async def test_status_shows_the_polycules_the_mail_fan_out_has_yet_to_read(
    client: Client, otters: Otters
) -> None:
    """While mail is on, /status counts the polycules whose newest events the mail fan-out
    has not turned into notices yet, and none once it has."""

    async def mail_behind() -> int:
        response = await client.get("/status", headers={"X-Operator-Token": OPERATOR_TOKEN})
        assert response.status == 200
        behind: int = (await response.json())["mail_fanout"]["polycules_behind"]
        return behind

    runner = client.app[MAIL_FANOUT]
    await fanned_out(client)
    assert await mail_behind() == 0
    await runner.stop()  # nothing reads on while the proposal is made
    await propose(otters.ana, otters.polycule_id, [otters.ana, otters.bo])
    assert await mail_behind() == 1

    await runner.catch_up_now()

    assert await mail_behind() == 0


async def test_the_daily_digest_gathers_the_rest_when_its_hour_comes(
    client: Client, mailbox: Mailbox, otters: Otters, clock: TravellingClock
) -> None:
    ana, bo = otters.ana, otters.bo
    proposal = await propose(ana, otters.polycule_id, [ana, bo])
    await bo.json("POST", f"/api/polycules/{otters.polycule_id}/proposals/"
                          f"{proposal['proposal_id']}/consent", json={"revision": 1})
    await propose(bo, otters.polycule_id, [ana, bo], OTHER_TITLE, OTHER_TERMS)
    await all_sent(client)
    # Ana was told at once of Bo's proposal; the agreement in force waits for her digest.
    assert len(mailbox.to(address_of(ana))) == 2

    clock.advance(days=1)

    [digest] = (await mailbox.wait_for(address_of(ana), 3))[2:]
    assert digest.message["Subject"] == "Your day in your polycules: 1 thing to look at"
    assert "an agreement you are a party to came into force" in digest.text
    assert digest.links()[0] == (
        f"/polycules/{otters.polycule_id}/agreements/{proposal['agreement_id']}"
    )
    assert digest.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    without_their_words(digest)
    # One digest a day, and none for a member with nothing gathered.
    clock.advance(hours=1)
    await all_sent(client)
    assert len(mailbox.to(address_of(ana))) == 3
    assert len(mailbox.to(address_of(otters.cy))) == 1


async def test_the_one_click_unsubscribe_link_stops_every_mail(
    client: Client, mailbox: Mailbox, otters: Otters
) -> None:
    ana, bo, cy = otters.ana, otters.bo, otters.cy
    await propose(ana, otters.polycule_id, [ana, bo, cy])
    [notice] = (await mailbox.wait_for(address_of(bo), 2))[1:]
    header = str(notice.message["List-Unsubscribe"]).strip()  # folded or not
    assert notice.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [unsubscribe] = LINK.findall(header)
    assert header == f"<{PUBLIC_URL}{unsubscribe}>"
    assert unsubscribe in notice.links()

    # As RFC 8058 has a mail program do it: a POST from its own servers, no cookie, no
    # CSRF token, another site's Origin; even from a browser signed in elsewhere.
    async with aiohttp.ClientSession() as mail_program:
        page = await mail_program.get(client.make_url(unsubscribe))
        assert page.status == 200  # a button; nothing changed yet
        assert set((await bo.json("GET", "/api/account/notifications"))["choices"].values()) \
            != {"never"}
        posted = await form_post(mail_program, client, unsubscribe,
                                 Origin="https://mail.example")
        assert posted.status == 200, await posted.text()
    assert set((await bo.json("GET", "/api/account/notifications"))["choices"].values()) == {
        "never"
    }

    await propose(cy, otters.polycule_id, [ana, bo, cy], OTHER_TITLE, OTHER_TERMS)
    await mailbox.wait_for(address_of(ana), 2)  # Ana is still told
    await all_sent(client)
    assert len(mailbox.to(address_of(bo))) == 2


async def test_mail_made_while_the_smtp_server_is_away_arrives_once_it_is_back(
    client: Client, mailbox: Mailbox, otters: Otters, smtp: SmtpServer,
    clock: TravellingClock,
) -> None:
    ana, bo, cy = otters.ana, otters.bo, otters.cy
    confirmations = len(mailbox.arrived)
    await smtp.stop()

    for number in range(3):
        await propose(ana, otters.polycule_id, [ana, bo, cy], f"Plan {number}", f"Do {number}.")
    await fanned_out(client)
    # The sender tried each while the server was away; each is still to be sent.
    pool = client.app[POOL]

    async def each_tried() -> bool:
        return not await pool.fetchval(
            "SELECT count(*) FROM mail_outbox WHERE status = 'pending' AND attempts = 0"
        )

    await until(each_tried, "the sender did not try while the server was away")
    pending = await pool.fetchval("SELECT count(*) FROM mail_outbox WHERE status = 'pending'")
    assert pending == 6
    assert len(mailbox.arrived) == confirmations

    await smtp.start()
    clock.advance(hours=1)  # past every pause of the retries
    await all_sent(client)

    arrived = mailbox.arrived[confirmations:]
    counted = Counter(mail.message["Message-ID"] for mail in arrived)
    sent = {f"<{row['mail_id']}@ledger.test>" for row in await pool.fetch(
        "SELECT mail_id FROM mail_outbox WHERE what = 'notice' AND status = 'sent'"
    )}
    assert set(counted) == sent and len(sent) == 6
    assert set(counted.values()) == {1}
    assert len(mailbox.to(address_of(bo))) == 4 and len(mailbox.to(address_of(cy))) == 4


async def test_the_mail_loops_run_under_the_supervisor_only_while_mail_is_on(
    client: Client, app: web.Application
) -> None:
    names = app[SUPERVISOR].names
    assert {"mail-delivery", "mail_fanout"} <= set(names)
    assert MAIL_SENDER in app


async def test_erasure_forgets_the_address_and_every_mail(
    client: Client, mailbox: Mailbox, otters: Otters
) -> None:
    bo = otters.bo
    await propose(otters.ana, otters.polycule_id, [otters.ana, bo])
    await mailbox.wait_for(address_of(bo), 2)
    erased = await bo.request("DELETE", "/api/account", json={"handle": BO, "password": PASSWORD})
    assert erased.status == 200, await erased.text()

    pool = client.app[POOL]
    for table in ("mail_addresses", "mail_choices", "mail_outbox"):
        assert await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE account_id = $1", UUID(str(bo.account_id))
        ) == 0


async def test_the_settings_page_shows_the_address_its_state_and_the_choices(
    client: Client, mailbox: Mailbox
) -> None:
    async with person(client, ANA) as ana:
        page = await (await ana.request("GET", "/account")).text()
        assert 'href="/account/email"' in page
        saved = await ana.request("POST", "/account/email", allow_redirects=False, data={
            "csrf_token": ana.csrf_token, "return_to": "/account/email?saved=address",
            "address": address_of(ana),
        })
        assert saved.status == 303
        page = await (await ana.request("GET", "/account/email?saved=address")).text()
        assert address_of(ana) in page and "Not yet: follow the link" in page

        await ana.request("POST", "/account/notifications", allow_redirects=False, data={
            "csrf_token": ana.csrf_token, "return_to": "/account/email?saved=choices",
            "choices.proposal.awaiting_consent": "digest", "choices.member.left": "never",
        })

        choices = (await ana.json("GET", "/api/account/notifications"))["choices"]
        assert (choices["proposal.awaiting_consent"], choices["member.left"]) == (
            "digest", "never"
        )
        assert choices["breach.reported"] == "now"  # untouched: its default
        page = await (await ana.request("GET", "/account/email")).text()
        assert 'name="choices.member.left" value="never" checked' in page


async def test_the_settings_page_tells_the_digests_hour_by_the_readers_clock(
    client: Client, settings: Settings, clock: TravellingClock
) -> None:
    async with person(client, ANA) as ana:
        await ana.json("PUT", "/api/account/time-zone", json={"time_zone": "Asia/Kolkata"})

        page = await (await ana.request("GET", "/account/email")).text()

        # Kept in UTC, told in India's time: half an hour past, an hour's offset apart.
        kolkata = ZoneInfo("Asia/Kolkata")
        today = clock.now().astimezone(UTC).date()
        moment = datetime.combine(today, time(settings.mail_digest_hour), UTC).astimezone(kolkata)
        assert f"at {moment:%H:%M} IST (your time)" in page
