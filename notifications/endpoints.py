"""Which push endpoints the server may contact, and at which address (DESIGN.md §5 "Security").

A Web Push endpoint is a URL the user hands us, so it must not turn the push worker into a proxy
into our own network. It must be `https` on a host whose every address is public: no loopback,
private, shared (100.64/10), link-local (cloud metadata at 169.254.169.254), unique-local
(fd00:ec2::254), multicast, unspecified or reserved address, IPv4 or IPv6, an IPv4 address
carried in IPv6 (mapped, NAT64, 6to4, Teredo) judged as that IPv4 address. The name is resolved
once per send and the connection goes to the address that was checked
(`notifications.transport`), so a name that resolves elsewhere a moment later (DNS rebinding)
gains nothing.

The one exception is for tests: with WEBPUSH_ALLOW_LOCAL_HTTP, `http://127.0.0.1:<port>` (a local
push service) is allowed, and only that.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# names that never mean a public host, whatever a resolver says (RFC 6761, RFC 6762, common use)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
_LOCAL_HTTP_HOST = "127.0.0.1"


class EndpointRefused(Exception):
    """The endpoint may not be contacted (its message says why, for the API's 400)."""


class EndpointUnresolved(EndpointRefused):
    """The endpoint's host does not resolve now (it may later; it is checked again then)."""


@dataclass(frozen=True)
class EndpointTarget:
    """Where one push goes: the URL's host (for TLS and `Host`) and the checked address."""

    scheme: str
    host: str
    port: int
    address: str


def address_is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address (IPv4 inside IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_is_public(address.ipv4_mapped)
        if address in _NAT64:
            return address_is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _NAT64_LOCAL or address.teredo is not None:
            return False
        if address.sixtofour is not None:
            return address_is_public(address.sixtofour)
        if address.is_site_local:
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and not address.is_loopback
        and not address.is_unspecified
    )


def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointUnresolved(f"The endpoint's host {host!r} does not resolve.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def endpoint_target(url: str) -> EndpointTarget:
    """Check `url` and resolve its host once; raise EndpointRefused unless every address is
    public (or it is the allowed local test origin)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused("The endpoint is not a valid URL.") from exc
    if not host:
        raise EndpointRefused("The endpoint has no host.")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("The endpoint must not carry credentials.")
    if settings.WEBPUSH_ALLOW_LOCAL_HTTP and parts.scheme == "http" and host == _LOCAL_HTTP_HOST:
        return EndpointTarget(scheme="http", host=host, port=port or 80, address=_LOCAL_HTTP_HOST)
    if parts.scheme != "https":
        raise EndpointRefused("The endpoint must be an https URL.")
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        raise EndpointRefused("The endpoint's host is a local name.")
    port = port or 443
    addresses = _resolve(host, port)
    refused = [a for a in addresses if not address_is_public(ipaddress.ip_address(a.split("%")[0]))]
    if refused or not addresses:
        raise EndpointRefused("The endpoint's host is not a public address.")
    return EndpointTarget(scheme="https", host=host, port=port, address=addresses[0])


def endpoint_check_for_registration(url: str) -> None:
    """Refuse an endpoint that is not https or that resolves to any non-public address. A host
    that does not resolve now is accepted: it is resolved and checked again at every send."""
    with contextlib.suppress(EndpointUnresolved):
        endpoint_target(url)
