"""The split write path: check_message_send_blocking → (sync queue) → messages_write and
conversations_touch, its PostgreSQL side."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat import selectors, services
from chat.domain.errors import ConversationNotFound, MessageInvalid, MessageTooLong
from chat.domain.records import PendingMessage
from chat.domain.snowflake import snowflake_timestamp_ms
from chat.models import Conversation, Membership
from chat.services import receipts
from chat.store.cassandra import message_store

pytestmark = pytest.mark.usefixtures("cassandra_clean")


def _persist(pending: list[Any]) -> list[Any]:
    """What the sync worker does with a batch, less the routing: store, then move PostgreSQL along."""
    results = message_store.messages_write(pending=pending)
    services.conversations_touch(messages=[r.message for r in results])
    return results


def test_prepare_numbers_and_describes_a_message_without_storing_it(alice: Any, bob: Any, carol: Any) -> None:
    """A PendingMessage carries its ID, members and mentions, survives JSON, and nothing is stored."""
    group = services.conversation_group_create(owner=alice, title="t", member_ids=[bob.pk, carol.pk])
    pending = services.check_message_send_blocking(
        sender_id=alice.pk, conversation_id=group.pk, client_msg_id="c-1", body="hey @carol"
    )
    assert pending.recipient_ids == tuple(sorted((alice.pk, bob.pk, carol.pk)))
    assert pending.mentions == (carol.pk,)
    assert abs(snowflake_timestamp_ms(pending.id) - pending.created_at.timestamp() * 1000) < 1
    assert PendingMessage.from_dict(json.loads(json.dumps(pending.as_dict()))) == pending
    assert message_store.conversation_history(conversation_id=group.pk, limit=5).messages == []


def test_prepare_refuses_before_numbering(alice: Any, bob: Any, carol: Any) -> None:
    """Non-members, empty and oversized bodies and bad client ids are refused with domain errors."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    with pytest.raises(ConversationNotFound):
        services.check_message_send_blocking(
            sender_id=carol.pk, conversation_id=conversation.pk, client_msg_id="a", body="x"
        )
    with pytest.raises(MessageInvalid):
        services.check_message_send_blocking(
            sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="a", body=" "
        )
    with pytest.raises(MessageInvalid):
        services.check_message_send_blocking(
            sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="a b", body="x"
        )
    with pytest.raises(MessageTooLong):
        services.check_message_send_blocking(
            sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="a", body="x" * 10_001
        )


def test_persist_stores_a_batch_once_and_moves_the_conversation(alice: Any, bob: Any) -> None:
    """One call stores several messages; a repeated batch changes nothing; PG follows the newest."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    batch = [
        services.check_message_send_blocking(
            sender_id=sender.pk, conversation_id=conversation.pk, client_msg_id=f"b-{i}", body=f"m{i}"
        )
        for i, sender in enumerate([alice, bob, alice])
    ]
    first = _persist(pending=batch)
    again = _persist(pending=batch)
    assert [r.message.id for r in first] == [r.message.id for r in again] == [p.id for p in batch]
    stored = message_store.conversation_history(conversation_id=conversation.pk, limit=10).messages
    assert [m.id for m in stored] == [p.id for p in reversed(batch)]
    conversation.refresh_from_db()
    assert conversation.last_message_id == batch[-1].id
    markers = dict(
        Membership.objects.filter(conversation=conversation).values_list("user_id", "last_read_message_id")
    )
    assert markers == {alice.pk: batch[2].id, bob.pk: batch[1].id}
    # a late, older batch never moves the conversation back
    _persist(pending=batch[:1])
    assert Conversation.objects.get(pk=conversation.pk).last_message_id == batch[-1].id


def test_resend_in_a_later_batch_returns_the_first(alice: Any, bob: Any) -> None:
    """A resend numbered again is answered with the first message's ID; nothing new is stored."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    [first] = _persist(
        [
            services.check_message_send_blocking(
                sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="r", body="x"
            )
        ]
    )
    resend = services.check_message_send_blocking(
        sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="r", body="x"
    )
    [result] = _persist(pending=[resend])
    assert (result.duplicate, result.message.id, result.pending_id) == (True, first.message.id, resend.id)
    assert len(message_store.conversation_history(conversation_id=conversation.pk, limit=5).messages) == 1


def test_read_marker_accepts_a_stored_message_the_conversation_row_has_not_seen(alice: Any, bob: Any) -> None:
    """A message stored by the store alone still counts as a valid read marker."""
    conversation, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    pending = services.check_message_send_blocking(
        sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="q", body="x"
    )
    message_store.messages_write(pending=[pending])
    marker = receipts.conversation_mark_read(
        user_id=bob.pk, conversation_id=conversation.pk, message_id=pending.id
    )
    assert marker == pending.id
    assert selectors.conversation_member_ids(conversation_id=conversation.pk) == {alice.pk, bob.pk}
