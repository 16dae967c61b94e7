"""Address lists (``10.0.0.0/8, 192.0.2.7``) and what a trusted proxy may tell us."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings validate address lists without loading starlette
    from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AddressSet:
    """IP addresses and CIDR networks; ``*`` is every address, empty is none."""

    networks: tuple[Network, ...] = ()
    everything: bool = False

    @classmethod
    def parse(cls, text: str | None) -> AddressSet:
        """``"10.0.0.0/8, 192.0.2.7"``; raises ValueError naming the entry it cannot read."""
        networks: list[Network] = []
        everything = False
        for entry in (text or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                everything = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)"
                ) from None
        return cls(tuple(networks), everything)

    def __bool__(self) -> bool:
        return self.everything or bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if self.everything:
            return True
        if not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


def _last(value: str | None) -> str:
    # Each proxy appends to the list: the last entry is what the nearest one saw.
    return (value or "").split(",")[-1].strip()


def client_ip(request: Request, trusted: AddressSet) -> str:
    """The address the request came from: the peer, or what trusted proxies report.

    X-Forwarded-For is read from the right, skipping trusted proxies; the first entry
    that is not one of them is the client (anything left of it could be made up).
    """
    peer = request.client.host if request.client else ""
    if peer not in trusted:
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else peer


def public_url(request: Request, trusted: AddressSet) -> str:
    """The URL the sender called, as it signed it.

    Behind a TLS-terminating proxy the receiver is called over ``http://`` on its own
    host: the scheme and host the sender used come from X-Forwarded-Proto and
    X-Forwarded-Host, believed only from a trusted proxy (anyone else could claim any
    URL). The path is the raw one, escapes as sent.
    """
    scope = request.scope
    scheme = str(scope.get("scheme") or "http")
    host = request.headers.get("host", "")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}"
    peer = request.client.host if request.client else ""
    if peer in trusted:
        proto = _last(request.headers.get("x-forwarded-proto")).lower()
        if proto in ("http", "https"):
            scheme = proto
        forwarded_host = _last(request.headers.get("x-forwarded-host"))
        if forwarded_host and forwarded_host.isascii() and forwarded_host.isprintable():
            host = forwarded_host
    raw_path = scope.get("raw_path")
    path = (
        raw_path.decode("latin-1")
        if isinstance(raw_path, bytes)
        else scope.get("root_path", "") + scope["path"]
    )
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
