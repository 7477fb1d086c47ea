"""The client's address, as every part of the API server counts it (lockout, throttling, logs).

`X-Forwarded-For` is believed only when the direct peer is one of TRUSTED_PROXIES (the load
balancer's addresses): then the client is the entry API_NUM_PROXIES from the right, the one our
own proxy appended. From any other peer — a client that reached an API server's port directly —
the header is anybody's word, and the peer's address is the client's. The middleware writes the
result into `REMOTE_ADDR`, so django-axes (`accounts.lockout`) and DRF's throttles (NUM_PROXIES 0)
read one answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(*, peer: str, forwarded_for: str | None, trusted: Iterable[str], hops: int) -> str:
    """The client's address given the direct `peer`, its X-Forwarded-For header, the trusted
    proxy addresses or networks, and how many proxies stand in front of the API servers."""
    peer_address = _parse(peer)
    if peer_address is None or not forwarded_for or hops < 1:
        return peer
    if not any(peer_address in network for network in _networks(tuple(trusted))):
        return peer
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < hops:
        return peer
    forwarded = _parse(entries[-hops])
    return str(forwarded) if forwarded is not None else peer


class ClientAddressMiddleware:
    """First in MIDDLEWARE: `REMOTE_ADDR` becomes the client's address (the peer's is kept in
    `PEER_ADDR`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        peer = request.META.get("REMOTE_ADDR", "")
        request.META["PEER_ADDR"] = peer
        request.META["REMOTE_ADDR"] = client_address(
            peer=peer,
            forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
            trusted=settings.TRUSTED_PROXIES,
            hops=settings.API_NUM_PROXIES,
        )
        return self.get_response(request)
