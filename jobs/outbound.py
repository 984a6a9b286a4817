"""Where the service may send requests of its own (alert webhooks): public addresses only.

A tenant configures the URL, but the service's network makes the request: without this check a webhook
pointed at 127.0.0.1, 169.254.169.254 or 10.0.0.0/8 reaches what only the service should reach. A name
is resolved and every address it resolves to must be public, unless the service's operator allow-lists
it (`AGENTMEM_WEBHOOK_ALLOW_HOSTS`: host names, addresses or networks, comma-separated). The check runs
when the URL is configured and again before each delivery (DNS answers change), and the delivery then
connects to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class DestinationRefused(Exception):
    """The URL may not be called from the service; `reason` says why, in words a tenant may read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AllowList:
    """Destinations the service's operator allows although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> AllowList:
        entries = [e.strip() for e in (text.split(",") if isinstance(text, str) else text) if e.strip()]
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows(self, address: Address) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated "::a.b.c.d"; Python calls some of it global


def is_public(address: Address) -> bool:
    """Globally routable unicast: not loopback, link-local, private, shared, reserved, multicast or unspecified.
    An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is as public as the IPv4 it
    reaches: "64:ff9b::a00:1" is 10.0.0.1 on a host with NAT64."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and any(address in n for n in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
        if address in _IPV4_COMPATIBLE or address.is_site_local:
            return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def refusal(host: str, addresses: list[str], allow: AllowList) -> str | None:
    """Why these resolved addresses of `host` may not be called, or None when all may."""
    if allow.allows_host(host):
        return None
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not is_public(address) and not allow.allows(address):
            return (f"{host} resolves to {address}, which is not a public address; the service does not send"
                    " requests to loopback, link-local or private networks")
    return None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: str  # the checked address the request must connect to
    target: str  # path and query


def _parts(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("not an http(s) URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("invalid port") from None
    if parts.port == 0:
        raise DestinationRefused("invalid port")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


def check_configured(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> None:
    """At configuration: refuse an address literal or a name that resolves to a non-public address. A name
    that does not resolve (yet) is accepted: the check before each delivery is the one that counts."""
    _, host, port, _ = _parts(url)
    try:
        addresses = resolve(host, port)
    except UnicodeError:  # not a valid host name ("example..com", a 64-character label): IDNA refuses it
        raise DestinationRefused(f"{host!r} is not a valid host name") from None
    except OSError:
        return
    reason = refusal(host, addresses, allow)
    if reason:
        raise DestinationRefused(reason)


def destination(url: str, allow: AllowList, resolve: Resolver = system_resolver) -> Destination:
    """Before a delivery: resolve now, check every address, and name the one to connect to."""
    scheme, host, port, target = _parts(url)
    try:
        addresses = resolve(host, port)
    except UnicodeError:
        raise DestinationRefused("invalid host name") from None
    except OSError:
        raise DestinationRefused("unresolvable") from None
    if not addresses:
        raise DestinationRefused("unresolvable")
    if refusal(host, addresses, allow):
        raise DestinationRefused("address not allowed")
    return Destination(scheme, host, port, addresses[0], target)
