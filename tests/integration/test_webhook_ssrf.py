"""The SSRF guard against a real receiver on loopback, through aiohttp's own connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from ledger.webhooks.ssrf import AddressRefused, guarded_connector, literal_ip_refusal

TIMEOUT = aiohttp.ClientTimeout(total=5, connect=2)


@pytest.fixture
async def receiver_port() -> AsyncIterator[int]:
    """An aiohttp receiver on 127.0.0.1 that answers 200, as an internal service would."""

    async def accept(request: web.Request) -> web.Response:
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

    async with aiohttp.ClientSession(connector=guarded_connector(), timeout=TIMEOUT) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as failed:
            await session.post(url, data="{}", allow_redirects=False)

    refusal = failed.value.os_error
    assert isinstance(refusal, AddressRefused)
    assert refusal.host == "localhost"
    assert refusal.reasons["127.0.0.1"] == "loopback"
    assert "refusing to connect to 'localhost'" in str(failed.value)


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
    """aiohttp does not resolve literal IPs; the connector's socket factory still refuses."""
    async with aiohttp.ClientSession(connector=guarded_connector(), timeout=TIMEOUT) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as failed:
            await session.get(f"http://127.0.0.1:{receiver_port}/", allow_redirects=False)

    assert isinstance(failed.value.os_error, AddressRefused)
    assert failed.value.os_error.reasons == {"127.0.0.1": "loopback"}


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_test_setting_reaches_a_receiver_on_loopback(
    receiver_port: int, host: str
) -> None:
    url = f"http://{host}:{receiver_port}/hooks"
    assert literal_ip_refusal(url, allow_private=True) is None

    connector = guarded_connector(allow_private=True)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:
        async with session.post(url, data="{}", allow_redirects=False) as response:
            assert response.status == 200
            assert await response.text() == "reached"
