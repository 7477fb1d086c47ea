"""The chat servers' per-process cache of a conversation's send rules (members, blocks).

That changes reach a running chat server at once is pinned across real processes in
tests/test_chat_servers.py; here: what is cached, when it expires, and what evicts it.
"""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from accounts.models import Block, User
from chat import selectors
from chat.selectors import send_rules
from chat.services import conversation_direct_open


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    send_rules._send_rules_cache.clear()


@pytest.mark.django_db
def test_cached_rules_expire_even_without_an_eviction(alice: User, bob: User) -> None:
    """A block written behind the services' back (no eviction) still counts once the rules expire."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=0.3):
        assert not selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True).blocked
        Block.objects.create(blocker=bob, blocked=alice)
        assert not selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True).blocked
        time.sleep(0.35)
        assert selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True).blocked


@pytest.mark.django_db
def test_rules_are_read_once_per_cache_time_by_chat_servers_only(
    alice: User, bob: User, django_assert_num_queries: object
) -> None:
    """Within the cache time a chat server's check costs no query; other callers always read."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=30):
        first = selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True)
        with django_assert_num_queries(0):  # type: ignore[operator]
            again = selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True)
        assert selectors.conversation_send_rules_cached(conversation_id=conversation.pk) is first
        fresh = selectors.conversation_send_rules(conversation_id=conversation.pk)
    assert again is first
    assert fresh is not first
    assert fresh == first
    assert first.member_ids == {alice.pk, bob.pk}
    assert first.members == {"alice": alice.pk, "bob": bob.pk}
    assert first.blocked is False


@pytest.mark.django_db
def test_forget_evicts_some_or_all(alice: User, bob: User, carol: User) -> None:
    """`send_rules_forget` drops the named conversations, or every one with None."""
    one, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    two, _ = conversation_direct_open(user=alice, other_id=carol.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=30):
        for c in (one, two):
            selectors.conversation_send_rules(conversation_id=c.pk, cache=True)
        selectors.send_rules_forget(conversation_ids=[one.pk])
        assert selectors.conversation_send_rules_cached(conversation_id=one.pk) is None
        assert selectors.conversation_send_rules_cached(conversation_id=two.pk) is not None
        selectors.send_rules_forget(conversation_ids=None)
        assert selectors.conversation_send_rules_cached(conversation_id=two.pk) is None


@pytest.mark.django_db
def test_rules_near_their_expiry_are_read_again_ahead_of_it_once(alice: User, bob: User) -> None:
    """Past three quarters of the cache time the rules are still served, and the first caller to
    ask is told to read them again (once); the read replaces them with a fresh expiry."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=0.4):
        first = selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True)
        assert not selectors.send_rules_refresh_due(conversation_id=conversation.pk)
        time.sleep(0.33)  # past 0.75 of the longest expiry (0.3 s), before the shortest (0.32 s)
        Block.objects.create(blocker=bob, blocked=alice)  # behind the services' back
        assert selectors.conversation_send_rules_cached(conversation_id=conversation.pk) in (first, None)
        assert selectors.send_rules_refresh_due(conversation_id=conversation.pk)
        assert not selectors.send_rules_refresh_due(conversation_id=conversation.pk)  # once
        fresh = selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True, refresh=True)
        assert fresh.blocked
        assert selectors.conversation_send_rules_cached(conversation_id=conversation.pk) is fresh
        assert not selectors.send_rules_refresh_due(conversation_id=conversation.pk)


@pytest.mark.django_db
def test_a_read_that_began_before_an_eviction_is_not_kept(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block evicts the rules while a read of the old state is under way: that read's answer
    is returned to its caller but not cached, so the next send reads the block."""
    conversation, _ = conversation_direct_open(user=alice, other_id=bob.pk)
    read = send_rules._send_rules_read

    def read_then_evicted(*, conversation_id: int) -> selectors.SendRules:
        rules = read(conversation_id=conversation_id)
        selectors.send_rules_forget(conversation_ids=[conversation_id])  # the eviction lands now
        return rules

    monkeypatch.setattr(send_rules, "_send_rules_read", read_then_evicted)
    with override_settings(CHAT_SEND_RULES_CACHE_SECONDS=30):
        assert not selectors.conversation_send_rules(conversation_id=conversation.pk, cache=True).blocked
    assert selectors.conversation_send_rules_cached(conversation_id=conversation.pk) is None
