"""No aiming webhooks inward: URL rules at registration, address rules at connect time.

A member chooses where our server sends requests, so an endpoint could name the database,
the cloud metadata service or anything else only we can reach. Two checks stop that:

* at registration, ``check_endpoint_url`` refuses URLs that are plainly wrong (not https,
  credentials in the URL, a literal forbidden IP);
* at delivery, the addresses actually connected to are checked, because a name that
  resolved to a public address yesterday may resolve to 127.0.0.1 today (DNS rebinding).
  ``GuardedResolver`` drops forbidden addresses from every lookup, and the sender
  (``ledger/webhooks/sending.py``) judges each address again with ``address_refusal`` just
  before it connects. A literal IP host is never resolved, so delivery code calls
  ``literal_ip_refusal`` first to refuse those with a clear reason (the check at connect
  time would refuse them too, less readably).

The sender follows no redirect and uses no proxy: through a proxy, the proxy and not we
would resolve the endpoint's name.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Mapping
from typing import TypeAlias

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from ledger.errors import InvalidInput

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

# Checked before the stdlib properties so that the reason names the specific danger.
_NAMED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("169.254.169.254/32"), "the cloud metadata service"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "the cloud metadata service (IPv6)"),
    (ipaddress.ip_network("168.63.129.16/32"), "the cloud platform service (Azure)"),
    (ipaddress.ip_network("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (ipaddress.ip_network("100.64.0.0/10"), "shared address space (100.64.0.0/10)"),
    (ipaddress.ip_network("255.255.255.255/32"), "the broadcast address"),
    (ipaddress.ip_network("fec0::/10"), "IPv6 site-local (fec0::/10)"),
    (ipaddress.ip_network("fc00::/7"), "IPv6 unique-local (fc00::/7)"),
    # Local-use NAT64 (RFC 8215) leads into an operator's own network.
    (ipaddress.ip_network("64:ff9b:1::/48"), "the local-use NAT64 prefix (64:ff9b:1::/48)"),
)

# The well-known NAT64 prefix (RFC 6052): the low 32 bits are the IPv4 address a gateway
# translates the connection to, so that embedded address is the one really reached.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefused(OSError):
    """Every address a host resolves to (or the one about to be connected to) is forbidden."""

    def __init__(self, host: str, reasons: Mapping[str, str]) -> None:
        listed = "; ".join(f"{address} is {reason}" for address, reason in reasons.items())
        # errno and strerror both set, as for any refused connection.
        super().__init__(
            errno.EACCES,
            f"refusing to connect to {host!r}: no permitted address ({listed or 'none found'})",
        )
        self.host = host
        self.reasons = dict(reasons)


def forbidden_address(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be connected to, or None if it is an ordinary public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket; the stdlib calls the whole
            # ::ffff:0:0/96 range reserved, so judge the IPv4 address alone.
            return _embedded(ip, ip.ipv4_mapped)
        if ip in _NAT64_WELL_KNOWN:
            return _embedded(ip, ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            reason = forbidden_address(ip.sixtofour)
            if reason is not None:
                return f"{reason}, embedded in a 6to4 address"
        if ip.teredo is not None:
            return "a Teredo tunnel address"
    for network, reason in _NAMED_NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not globally routable"
    return None


def _embedded(outer: ipaddress.IPv6Address, inner: ipaddress.IPv4Address) -> str | None:
    reason = forbidden_address(inner)
    return None if reason is None else f"{reason} ({inner}, embedded in {outer})"


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with every forbidden address dropped from each answer.

    The check runs on the addresses returned at connect time, so a name that is rebound to
    an internal address after registration is refused. ``allow_private`` turns the check
    off; it exists for tests and local development that deliver to a receiver on loopback.
    """

    def __init__(
        self, *, allow_private: bool = False, inner: AbstractResolver | None = None
    ) -> None:
        self.allow_private = allow_private
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self.allow_private:
            return results
        permitted: list[ResolveResult] = []
        refused: dict[str, str] = {}
        for result in results:
            reason = address_refusal(result["host"])
            if reason is None:
                permitted.append(result)
            else:
                refused[result["host"]] = reason
        if not permitted:
            raise AddressRefused(host, refused)
        return permitted

    async def close(self) -> None:
        await self._inner.close()


def address_refusal(address: str) -> str | None:
    """Why the address ``address`` (text) may not be connected to, or None."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    return forbidden_address(ip)


def literal_ip_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why a delivery to ``url`` must not start because its host is a forbidden IP, or None.

    A literal IP host is connected to without asking the resolver, so delivery calls
    this first. DNS names return None here: the resolver judges them.
    """
    try:
        host = URL(url).raw_host
    except ValueError as error:
        return f"the URL is not valid: {error}"
    if not host:
        return "the URL has no host"
    try:
        ip = _literal_address(host)
    except ValueError as error:
        return str(error)
    if ip is None or allow_private:
        return None
    reason = forbidden_address(ip)
    return None if reason is None else f"{ip} is {reason}"


def _literal_address(host: str) -> IPAddress | None:
    """The IP address that a URL's host names literally, or None when it is a DNS name.

    Raises ValueError for numeric hosts that are not a canonical address (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``127.0.0.1.``): the C library would read them as an
    address, and there is no honest reason to write one that way.
    """
    if ":" in host:  # only an IPv6 literal has a colon in a URL's host
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        pass
    if host.replace(".", "").isdigit() or _inet_aton_accepts(host):
        raise ValueError(f"{host!r} is a numeric address in a non-canonical form")
    return None


def _inet_aton_accepts(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def check_endpoint_url(url: str, *, allow_http: bool, allow_private: bool = False) -> str:
    """The normalised form of an endpoint URL a member registers, or ``InvalidInput``.

    The URL must be https (http only when ``allow_http``, a development setting), name a
    host, and carry no credentials. A literal IP host is judged now by the address rules;
    a DNS name is judged each time it is delivered to, by the addresses it resolves to.
    ``allow_private`` (tests and development only) accepts loopback and private hosts.
    """
    url = url.strip()
    if not url:
        raise _invalid("a webhook URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"a webhook URL may be at most {MAX_URL_LENGTH} characters")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise _invalid("a webhook URL may not contain spaces or control characters")
    try:
        parsed = URL(url)
    except ValueError as error:
        raise _invalid(f"the webhook URL is not valid: {error}") from None
    scheme = parsed.scheme.lower()
    if scheme == "http" and not allow_http:
        raise _invalid("a webhook URL must use https")
    if scheme not in ("https", "http"):
        raise _invalid("a webhook URL must be an https:// address")
    if parsed.user is not None or parsed.password is not None:
        raise _invalid("a webhook URL may not contain a user name or password")
    host = parsed.raw_host
    if not host:
        raise _invalid("a webhook URL must name a host")
    try:
        ip = _literal_address(host)
    except ValueError as error:
        raise _invalid(f"the webhook URL's host is not acceptable: {error}") from None
    if ip is None:
        _check_host_name(host, allow_private=allow_private)
    elif not allow_private and (reason := forbidden_address(ip)) is not None:
        raise _invalid(f"webhooks may not be sent to {ip}: it is {reason}")
    return str(parsed.with_fragment(None))


_HOST_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _check_host_name(host: str, *, allow_private: bool) -> None:
    name = host.removesuffix(".")
    labels = name.split(".")
    if (
        not set(name) <= _HOST_NAME_CHARACTERS
        or len(name) > 253
        or any(not label or len(label) > 63 for label in labels)
    ):
        raise _invalid(f"the webhook URL's host {host!r} is not a valid host name")
    if not allow_private and labels[-1] == "localhost":
        raise _invalid("webhooks may not be sent to localhost")


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": "url"})
