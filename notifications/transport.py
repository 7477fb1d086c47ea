"""The HTTP session one push is sent through: pinned to the checked address, no redirects, no
proxies from the environment, and a deadline for the whole exchange.

`requests` resolves a URL's host itself when it connects; resolving it again after the check
would let a name point at a public address for the check and at an internal one for the
connection. Here every connection of the session goes to `EndpointTarget.address`, while TLS
(SNI, certificate) and the `Host` header still use the URL's name. A read timeout bounds each
wait for bytes, not the exchange: a push service trickling its answer byte by byte could hold a
worker forever, so when the deadline passes the session's sockets are shut down.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import requests
import urllib3.connection
import urllib3.connectionpool
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from notifications.endpoints import EndpointTarget


class _Pin:
    """The checked target of one session and the sockets it opened (to cut at the deadline)."""

    def __init__(self, target: EndpointTarget) -> None:
        self.target = target
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            if self.expired:
                sock.close()
                raise OSError("the push's deadline has passed")
            # a duplicate descriptor of the same socket: the original is wrapped (and detached)
            # by TLS, but shutting the duplicate down still ends the connection
            self.sockets.append(sock.dup())

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self.lock:
            for sock in self.sockets:
                sock.close()
            self.sockets.clear()


def _pinned_connection(base: type[urllib3.connection.HTTPConnection], pin: _Pin) -> type[Any]:
    class PinnedConnection(base):  # type: ignore[valid-type, misc]
        def _new_conn(self) -> socket.socket:
            if self.host.lower() != pin.target.host or self.port != pin.target.port:
                raise NewConnectionError(self, "not the checked push endpoint")
            # urllib3 connects to `_dns_host`; only for this connect is it the checked address,
            # so that the TLS handshake and the certificate check still use the name
            name: str = self._dns_host  # type: ignore[has-type]
            self._dns_host = pin.target.address
            try:
                sock = super()._new_conn()
            finally:
                self._dns_host = name
            pin.watch(sock)
            return sock

    return PinnedConnection


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, pin: _Pin) -> None:
        self._pin = pin
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_connection = _pinned_connection(urllib3.connection.HTTPConnection, self._pin)
        https_connection = _pinned_connection(urllib3.connection.HTTPSConnection, self._pin)

        class HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
            ConnectionCls = http_connection

        class HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
            ConnectionCls = https_connection

        self.poolmanager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}


class PinnedSession(requests.Session):
    """A session for one push to `target`, over by `deadline` (a time.monotonic() value)."""

    def __init__(self, target: EndpointTarget, *, deadline: float) -> None:
        super().__init__()
        self.trust_env = False  # no HTTP(S)_PROXY: a proxy would resolve the name itself
        self._pin = _Pin(target)
        adapter = _PinnedAdapter(self._pin)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._pin.expire)
        self._timer.daemon = True
        self._timer.start()

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False  # a 3xx is an answer, never a second request
        return super().request(method, url, *args, **kwargs)

    @property
    def expired(self) -> bool:
        """Whether the deadline cut the exchange (what was read may look complete: a response
        cut inside its headers parses as one that ended there)."""
        return self._pin.expired

    def close(self) -> None:
        self._timer.cancel()
        super().close()
        self._pin.close()
