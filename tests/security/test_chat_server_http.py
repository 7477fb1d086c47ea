"""Item 3: a chat server answers WebSockets and its health check, nothing else — the REST API and
the admin are reached only through the load balancer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.security.conftest import register
from tests.stack import Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def _get(
    url: str, *, token: str | None = None, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=body)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_rest_api_and_admin_are_404_on_chat_server_ports(security_stack: Stack) -> None:
    """The API, the admin, the schema and login answer 404 on every chat server port; /healthz works."""
    account = register(security_stack)
    for port in security_stack.chat_ports:
        base = f"http://127.0.0.1:{port}"
        for path in ("/api/v1/me", "/api/v1/conversations", "/admin/", "/admin/login/", "/api/schema/", "/"):
            status, raw = _get(base + path, token=account.token)
            assert status == 404, (port, path, status)
            assert json.loads(raw)["error"]["code"] == "not_found"
        status, _ = _get(
            base + "/api/v1/auth/login",
            method="POST",
            body=json.dumps({"username": account.username, "password": "x"}).encode(),
        )
        assert status == 404
        status, _ = _get(base + "/healthz")
        assert status == 200
    # the same request through the load balancer works
    status, raw = _get(security_stack.api + "me", token=account.token)
    assert status == 200, raw
