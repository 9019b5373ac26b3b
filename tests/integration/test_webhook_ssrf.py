"""The SSRF guard against a real receiver on loopback, through the delivery's sender."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from yarl import URL

from ledger.webhooks.sending import NOT_PERMITTED, Sender, SendFailed
from ledger.webhooks.ssrf import AddressRefused, GuardedResolver, literal_ip_refusal

REACHED: list[str] = []  # the paths the receiver was asked for


def sender(*, allow_private: bool = False, resolver: GuardedResolver | None = None) -> Sender:
    return Sender(user_agent="ssrf-test/1", connect_seconds=2, total_seconds=5,
                  allow_private=allow_private, resolver=resolver)


async def refused(url: str, resolver: GuardedResolver | None = None) -> AddressRefused:
    """Why a POST to ``url`` was refused: in the owner's words, the one refusal for every
    address; to operators, the addresses and their reasons. The receiver heard nothing."""
    REACHED.clear()
    guarded = sender(resolver=resolver)
    try:
        with pytest.raises(SendFailed) as failed:
            await guarded.post(URL(url), {}, b"{}")
    finally:
        await guarded.close()
    assert failed.value.owner_text == NOT_PERMITTED
    assert isinstance(failed.value.__cause__, AddressRefused)
    assert str(failed.value.__cause__) in failed.value.detail
    assert REACHED == []
    return failed.value.__cause__


@pytest.fixture
async def receiver_port() -> AsyncIterator[int]:
    """An aiohttp receiver on 127.0.0.1 that answers 200, as an internal service would."""

    async def accept(request: web.Request) -> web.Response:
        REACHED.append(request.path)
        return web.Response(text="reached")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    assert host == "127.0.0.1"
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_a_name_resolving_to_loopback_is_refused(receiver_port: int) -> None:
    url = f"http://localhost:{receiver_port}/"
    assert literal_ip_refusal(url, allow_private=False) is None  # a name: the resolver judges

    refusal = await refused(url)
    assert refusal.host == "localhost"
    assert refusal.reasons["127.0.0.1"] == "loopback"
    assert "refusing to connect to 'localhost'" in str(refusal)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[::1]:{port}/", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/", "loopback"),
    ],
)
async def test_literal_internal_ips_are_refused(receiver_port: int, url: str, reason: str) -> None:
    refusal = literal_ip_refusal(url.format(port=receiver_port), allow_private=False)
    assert refusal is not None
    assert reason in refusal


async def test_a_literal_ip_that_skipped_the_check_is_still_refused_at_the_socket(
    receiver_port: int,
) -> None:
    """A literal IP is never resolved; the sender judges the address before connecting."""
    refusal = await refused(f"http://127.0.0.1:{receiver_port}/")
    assert refusal.reasons == {"127.0.0.1": "loopback"}


async def test_an_address_the_resolver_let_through_is_still_refused_before_connecting(
    receiver_port: int,
) -> None:
    """The second guard stands alone: even a resolver that lets loopback through (here,
    the test setting's) does not get the sender to connect to it."""
    refusal = await refused(
        f"http://localhost:{receiver_port}/", GuardedResolver(allow_private=True)
    )
    assert set(refusal.reasons.values()) == {"loopback"}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_test_setting_reaches_a_receiver_on_loopback(
    receiver_port: int, host: str
) -> None:
    url = f"http://{host}:{receiver_port}/hooks"
    assert literal_ip_refusal(url, allow_private=True) is None

    REACHED.clear()
    loopback = sender(allow_private=True)
    try:
        answer = await loopback.post(URL(url), {}, b"{}")
    finally:
        await loopback.close()
    assert (answer.status, answer.snippet) == (200, b"reached")
    assert REACHED == ["/hooks"]
