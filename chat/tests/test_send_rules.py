"""The per-process cache of a conversation's send rules (members, blocks) used by message_prepare."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from accounts.exceptions import UserBlocked
from accounts.models import Block, User
from chat import selectors
from chat.services import conversation_direct_open, message_prepare


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    selectors._send_rules_cache.clear()


@pytest.mark.django_db
def test_a_block_reaches_sends_within_the_cache_time(alice: User, bob: User) -> None:
    """With caching on, a new block refuses sends once the cached rules expire, not later."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=0.3):
        message_prepare(sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="a", body="hi")
        Block.objects.create(blocker=bob, blocked=alice)
        time.sleep(0.35)
        with pytest.raises(UserBlocked):
            message_prepare(sender_id=alice.pk, conversation_id=conversation.pk, client_msg_id="b", body="hi")


@pytest.mark.django_db
def test_rules_are_read_once_per_cache_time(
    alice: User, bob: User, django_assert_num_queries: object
) -> None:
    """Within the cache time, validating a send costs no query for the conversation's rules."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=30):
        first = selectors.conversation_send_rules(conversation_id=conversation.pk)
        with django_assert_num_queries(0):  # type: ignore[operator]
            again = selectors.conversation_send_rules(conversation_id=conversation.pk)
    assert again is first
    assert set(first.members.values()) == {alice.pk, bob.pk}
    assert first.blocked is False
