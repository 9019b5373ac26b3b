"""No aiming webhooks inward: which URLs may be registered and which addresses reached."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from ledger.errors import InvalidInput
from ledger.webhooks.ssrf import (
    AddressRefused,
    GuardedResolver,
    check_endpoint_url,
    forbidden_address,
    literal_ip_refusal,
)

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared address space"),
    ("100.127.255.254", "shared address space"),
    ("0.0.0.0", "this network"),
    ("0.1.2.3", "this network"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "private"),  # the stdlib files 240/4 as private as well as reserved
    ("192.0.2.10", "private"),  # documentation ranges are not reachable either
    ("198.18.0.1", "private"),
    ("168.63.129.16", "cloud platform"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fd00:ec2::254", "cloud metadata"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:100.64.0.1", "shared address space"),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2002:7f00:1::1", "6to4"),
    ("2002:a00:1::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("::127.0.0.1", "reserved"),  # the deprecated IPv4-compatible form
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below the shared address space
    "100.128.0.0",  # just above it
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # a mapped address is judged by the IPv4 address inside
    "64:ff9b::808:808",  # NAT64 to a public address is how IPv6-only networks reach it
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "reason"), FORBIDDEN)
def test_internal_addresses_are_forbidden_with_a_reason(address: str, reason: str) -> None:
    refusal = forbidden_address(ipaddress.ip_address(address))
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address)) is None


def test_an_embedded_address_is_named_in_the_reason() -> None:
    refusal = forbidden_address(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert refusal == "loopback (127.0.0.1, embedded in ::ffff:7f00:1)"


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://hooks.example.com/in", "https://hooks.example.com/in"),
        ("HTTPS://Hooks.Example.COM:443/in?x=1", "https://hooks.example.com/in?x=1"),
        ("https://hooks.example.com:8443/in", "https://hooks.example.com:8443/in"),
        ("https://hooks.example.com/in#fragment", "https://hooks.example.com/in"),
        ("  https://hooks.example.com/in  ", "https://hooks.example.com/in"),
        ("https://bücher.example/in", "https://xn--bcher-kva.example/in"),
        ("https://my_bot.example.com/", "https://my_bot.example.com/"),
        ("https://8.8.8.8/in", "https://8.8.8.8/in"),
        ("https://[2606:4700:4700::1111]/in", "https://[2606:4700:4700::1111]/in"),
    ],
)
def test_a_good_url_is_accepted_and_normalised(url: str, normalised: str) -> None:
    assert check_endpoint_url(url, allow_http=False) == normalised


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "required"),
        ("http://hooks.example.com/in", "must use https"),
        ("ftp://hooks.example.com/in", "https://"),
        ("hooks.example.com/in", "https://"),
        ("https:///in", "must name a host"),
        ("https://user:secret@hooks.example.com/in", "user name or password"),
        ("https://user@hooks.example.com/in", "user name or password"),
        ("https://127.0.0.1%2f@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com:99999/", "not valid"),
        ("https://[::1/", "not valid"),
        ("https://hooks example.com/", "spaces"),
        ("https://hooks.example.com/\x00", "control characters"),
        ("https://" + "a" * 2100 + ".com/", "at most 2048"),
        ("https://127.0.0.1/", "loopback"),
        ("https://10.0.0.1/", "private"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://100.100.100.200/", "shared address space"),
        ("https://localhost/", "localhost"),
        ("https://LOCALHOST./", "localhost"),
        ("https://api.localhost/", "localhost"),
        ("https://2130706433/", "non-canonical"),
        ("https://127.1/", "non-canonical"),
        ("https://0x7f.0.0.1/", "non-canonical"),
        ("https://127.0.0.1./", "non-canonical"),
        ("https://%31%32%37.0.0.1/", "not a valid host name"),
        ("https://[zz::1]/", "not a valid IPv6 address"),
    ],
)
def test_a_bad_url_is_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_endpoint_url(url, allow_http=False)
    assert message in refused.value.message
    assert refused.value.details == {"field": "url"}


def test_plain_http_only_when_the_development_setting_allows_it() -> None:
    assert check_endpoint_url("http://hooks.example.com/in", allow_http=True) == (
        "http://hooks.example.com/in"
    )


def test_loopback_endpoints_only_when_the_test_setting_allows_them() -> None:
    for url in ("http://127.0.0.1:8080/in", "http://localhost:8080/in", "http://[::1]/in"):
        assert check_endpoint_url(url, allow_http=True, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[::1]:8080/", "loopback"),
        ("http://[::ffff:127.0.0.1]:8080/", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/", "cloud metadata"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://0.0.0.0:8080/", "this network"),
        ("http://2130706433/", "non-canonical"),
        ("http://0x7f000001/", "non-canonical"),
        ("http://[::1/", "not valid"),
        ("http:///no-host", "no host"),
    ],
)
def test_literal_internal_ips_are_refused_before_connecting(url: str, reason: str) -> None:
    refusal = literal_ip_refusal(url, allow_private=False)
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/in", "https://8.8.8.8/", "https://[2606:4700:4700::1111]/"],
)
def test_names_and_public_ips_are_left_to_the_resolver(url: str) -> None:
    assert literal_ip_refusal(url, allow_private=False) is None


def test_the_test_setting_lets_literal_loopback_through() -> None:
    assert literal_ip_refusal("http://127.0.0.1:8080/", allow_private=True) is None
    assert literal_ip_refusal("http://[::1]:8080/", allow_private=True) is None


class ScriptedResolver(AbstractResolver):
    """Answers each lookup with the next list of addresses, as a rebinding DNS server would."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.answers.pop(0)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        self.closed = True


async def test_a_name_rebound_to_loopback_is_refused_at_connect_time() -> None:
    dns = ScriptedResolver(["93.184.216.34"], ["127.0.0.1"])
    resolver = GuardedResolver(inner=dns)

    first = await resolver.resolve("rebind.example", 443)
    assert [result["host"] for result in first] == ["93.184.216.34"]
    with pytest.raises(AddressRefused) as refused:
        await resolver.resolve("rebind.example", 443)
    assert "rebind.example" in str(refused.value)
    assert refused.value.reasons == {"127.0.0.1": "loopback"}


async def test_forbidden_answers_are_dropped_and_permitted_ones_kept() -> None:
    dns = ScriptedResolver(["10.0.0.7", "93.184.216.34", "::ffff:127.0.0.1", "2606:4700::1"])
    results = await GuardedResolver(inner=dns).resolve("mixed.example", 443)
    assert [result["host"] for result in results] == ["93.184.216.34", "2606:4700::1"]


async def test_a_name_resolving_only_to_internal_addresses_is_refused() -> None:
    dns = ScriptedResolver(["169.254.169.254", "fd00:ec2::254", "::1"])
    with pytest.raises(AddressRefused) as refused:
        await GuardedResolver(inner=dns).resolve("metadata.example", 80)
    assert isinstance(refused.value, OSError)
    assert set(refused.value.reasons) == {"169.254.169.254", "fd00:ec2::254", "::1"}
    assert "metadata.example" in str(refused.value)


async def test_the_test_setting_lets_the_resolver_return_loopback() -> None:
    dns = ScriptedResolver(["127.0.0.1"])
    results = await GuardedResolver(inner=dns, allow_private=True).resolve("localhost", 80)
    assert [result["host"] for result in results] == ["127.0.0.1"]


async def test_the_guarded_resolver_closes_the_one_it_wraps() -> None:
    dns = ScriptedResolver()
    await GuardedResolver(inner=dns).close()
    assert dns.closed

