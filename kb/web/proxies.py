"""Forwarded headers: who the client is when a trusted reverse proxy says so, and nobody else.

Off by default: a request's client is the address its connection came from, whatever headers it
sends. With `KB_FORWARDED_ALLOW_IPS` (`kb serve --forwarded-allow-ips`) naming the proxies'
addresses or networks, a request whose connection comes from one of them may name the client in
the header that proxy writes: `X-Forwarded-For` (default; with `X-Forwarded-Proto` for the scheme)
or, with `KB_FORWARDED_HEADER=forwarded`, RFC 7239's `Forwarded: for=…;proto=…`. Only one of the
two is read, because a proxy passes the other one on untouched from the client.

The list is read from the right, where the nearest proxy appended the address it saw: trusted
proxies are skipped and the first other entry is the client. An entry that is not an IP address
(`unknown`, `_hidden`, `host-1`) makes kb ignore the header: the proxy stays the client. The rate
limiter, the admin key's failure counter and the access log all see the address chosen here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HEADERS = ("x-forwarded-for", "forwarded")
SCHEMES = {"http", "https"}


def address_of(value: str) -> str | None:
    """The IP address in a forwarded entry (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `"[::1]"`, `::1`), else None."""
    text = value.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _in(networks: tuple[Network, ...]) -> Callable[[str], bool]:
    def trusted(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in networks)

    return trusted


def forwarded_elements(header: str) -> list[dict[str, str]]:
    """RFC 7239 `Forwarded` elements as {param: value} (names lowercased, quotes removed)."""
    elements = []
    for element in header.split(","):
        pairs = {}
        for pair in element.split(";"):
            name, eq, value = pair.partition("=")
            if eq:
                pairs[name.strip().lower()] = value.strip().strip('"')
        elements.append(pairs)
    return elements


def pick_client(entries: list[str], trusted: Callable[[str], bool]) -> int | None:
    """The index of the client in `entries` (read right to left past trusted proxies), or None
    when an entry on the way is not an IP address or there are none."""
    for i in range(len(entries) - 1, -1, -1):
        address = address_of(entries[i])
        if address is None:
            return None
        if not trusted(address):
            return i
    return 0 if entries else None


def _values(scope: Scope, name: bytes) -> str:
    found = [value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == name]
    return ",".join(found)


class TrustedProxies:
    """Sets the ASGI scope's `client` (and `scheme`) from the forwarded header of trusted proxies."""

    def __init__(self, app: ASGIApp, networks: tuple[Network, ...], header: str = "x-forwarded-for") -> None:
        if header not in HEADERS:
            raise ValueError(f"header: {header!r} is not one of {', '.join(HEADERS)}")
        self.app, self.networks, self.header = app, networks, header
        self.trusted = _in(networks)

    def _peer_is_trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            return self.trusted(str(client[0]))
        except ValueError:  # a unix socket or a test client: no address
            return False

    def resolve(self, scope: Scope) -> None:
        if self.header == "forwarded":
            elements = forwarded_elements(_values(scope, b"forwarded"))
            index = pick_client([e.get("for", "") for e in elements], self.trusted)
            if index is None:
                return
            client, proto = elements[index].get("for", ""), elements[index].get("proto", "")
        else:
            entries = [e for e in _values(scope, b"x-forwarded-for").split(",") if e.strip()]
            index = pick_client(entries, self.trusted)
            if index is None:
                return
            protos = [p.strip() for p in _values(scope, b"x-forwarded-proto").split(",") if p.strip()]
            client, proto = entries[index], protos[-1] if protos else ""
        address = address_of(client)
        if address is not None:
            scope["client"] = (address, 0)
            if proto.lower() in SCHEMES:
                scope["scheme"] = proto.lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks and self._peer_is_trusted(scope):
            self.resolve(scope)
        await self.app(scope, receive, send)
