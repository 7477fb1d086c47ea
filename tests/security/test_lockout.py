"""Item 2: brute-force lockout cannot be bypassed. Against the real stack, each client from its
own loopback address (127.0.0.0/8 is all local), so that address locks stay between the tests:
a success never wipes the failures counted against another username; the username lock ignores
case and surrounding spaces and holds from any address; a forwarded address is believed only
from the load balancer, so clients talking to an API server's port directly cannot spread their
failures over made-up addresses, nor pin them on someone else's."""

from __future__ import annotations

import http.client
import json
import secrets

import pytest

from tests.security.conftest import PASSWORD, register
from tests.stack import Stack

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

FAILURES = 5  # AXES_FAILURE_LIMIT


def _address() -> str:
    """A loopback address of its own (not 127.0.0.1: the load balancer and the other tests)."""
    return f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"


def _login(port: int, source: str, username: str, password: str, *, forwarded_for: str | None = None) -> int:
    """POST auth/login to 127.0.0.1:`port` from the local address `source`; returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Content-Type": "application/json"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    try:
        body = json.dumps({"username": username, "password": password}).encode()
        connection.request("POST", "/api/v1/auth/login", body=body, headers=headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status == 429:
            assert answer["error"]["code"] == "locked_out", answer
        return response.status
    finally:
        connection.close()


def test_a_success_does_not_reset_failures_against_another_username(security_stack: Stack) -> None:
    """Four wrong passwords for the victim, a good login to the attacker's own account from the
    same address, a fifth wrong one: the victim's username is locked, from any address."""
    lb = security_stack.lb_port
    victim, own = register(security_stack, "victim"), register(security_stack, "own")
    attacker = _address()
    for _ in range(FAILURES - 1):
        assert _login(lb, attacker, victim.username, "wrong-password") == 401
    assert _login(lb, attacker, own.username, PASSWORD) == 200
    assert _login(lb, attacker, victim.username, "wrong-password") in (401, 429)
    assert _login(lb, _address(), victim.username, PASSWORD) == 429


def test_the_username_lock_ignores_case_spaces_and_address(security_stack: Stack) -> None:
    """Five failures under five spellings of one account (case, spaces, its email), each from a
    different address, lock it: the right password from a sixth address is refused."""
    lb = security_stack.lb_port
    victim = register(security_stack, "Victim")
    name = victim.username
    spellings = [
        name.upper(),
        f"  {name.lower()} ",
        name.swapcase(),
        name.capitalize(),
        f"{name}@EXAMPLE.com",
    ]
    for spelling in spellings:
        assert _login(lb, _address(), spelling, "wrong-password") in (401, 429)
    assert _login(lb, _address(), name, PASSWORD) == 429
    assert _login(lb, _address(), name.lower(), PASSWORD) == 429


def test_forwarded_addresses_are_ignored_on_an_api_server_port(security_stack: Stack) -> None:
    """Straight to an API server (not the load balancer's address), a made-up X-Forwarded-For per
    attempt spreads nothing: the real address is locked after five failures, and the address the
    attacker named in the header is not."""
    framed = _address()
    direct = _address()
    for port in security_stack.api_ports:
        assert _login(port, direct, "nobody-" + secrets.token_hex(4), "x", forwarded_for=_address()) == 401
    for _ in range(FAILURES - len(security_stack.api_ports)):
        status = _login(
            security_stack.api_ports[0], direct, "nobody-" + secrets.token_hex(4), "x", forwarded_for=framed
        )
        assert status in (401, 429)
    fresh = register(security_stack, "fresh")
    assert (
        _login(security_stack.api_ports[1], direct, fresh.username, PASSWORD, forwarded_for=_address()) == 429
    )
    # the address named in the header was never the one counted
    assert _login(security_stack.lb_port, framed, fresh.username, PASSWORD) == 200


def test_through_the_load_balancer_the_client_address_is_the_real_one(security_stack: Stack) -> None:
    """Through nginx a client's own X-Forwarded-For is only a prefix: failures count against the
    address nginx saw, whatever the header says."""
    lb = security_stack.lb_port
    client = _address()
    for _ in range(FAILURES):
        status = _login(lb, client, "nobody-" + secrets.token_hex(4), "x", forwarded_for=_address())
        assert status in (401, 429)
    fresh = register(security_stack, "fresh")
    assert _login(lb, client, fresh.username, PASSWORD, forwarded_for=_address()) == 429
    assert _login(lb, _address(), fresh.username, PASSWORD) == 200


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),  # from the load balancer
        ("127.0.0.1", "10.9.9.9, 203.0.113.7", "203.0.113.7"),  # the client's own prefix is ignored
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("::ffff:127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.9", "203.0.113.7", "127.0.0.9"),  # a direct client: its header is not believed
        ("198.51.100.4", "127.0.0.1", "198.51.100.4"),
    ],
)
def test_client_address_believes_only_the_load_balancer(
    peer: str, forwarded_for: str | None, client: str
) -> None:
    """X-Forwarded-For counts only from TRUSTED_PROXIES, and only its last entry (one proxy)."""
    from chatproject.proxies import client_address

    assert client_address(peer=peer, forwarded_for=forwarded_for, trusted=["127.0.0.1"], hops=1) == client
