"""Members' read markers in the conversation details: what a client needs for read ticks after a
reload (the live `read` frames cover only what happens while it is connected)."""

from __future__ import annotations

from typing import Any

import pytest

from chat.tests.test_apis import client_for, conversation, open_direct, send

pytestmark = pytest.mark.usefixtures("cassandra_clean")


def _marker(details: dict[str, Any], user: Any) -> str | None:
    return next(m["last_read_message_id"] for m in details["members"] if m["user_id"] == user.pk)


def test_each_member_carries_their_read_marker(alice: Any, bob: Any) -> None:
    """After Bob reads Alice's message, Alice's view of the conversation shows Bob's marker."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    sent = send(a, cid, "did you read this?")
    assert _marker(conversation(a, cid), bob) == "0"
    b.post(f"/api/v1/conversations/{cid}/read", {"message_id": sent["id"]}, format="json")
    assert _marker(conversation(a, cid), bob) == sent["id"]
    listed = next(c for c in a.get("/api/v1/conversations").json()["conversations"] if c["id"] == cid)
    assert _marker(listed, bob) == sent["id"]


def test_a_member_with_read_receipts_off_shows_no_marker(alice: Any, bob: Any) -> None:
    """Bob turned read receipts off: his marker is not revealed (null), as no live read frame is."""
    bob.read_receipts_enabled = False
    bob.save(update_fields=["read_receipts_enabled"])
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    sent = send(a, cid, "secret reader")
    b.post(f"/api/v1/conversations/{cid}/read", {"message_id": sent["id"]}, format="json")
    assert _marker(conversation(a, cid), bob) is None
