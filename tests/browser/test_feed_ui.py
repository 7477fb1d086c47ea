"""The browser client on the change feed (issue 14), end to end in Debian's Chromium: a device
that was offline catches up on edits, deletes, renames, membership and reads; the ticks of a
sender move from sent to delivered to read (in a group as "n of m") and are rebuilt after a
reload."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import (
    BROWSER_MARKS,
    Person,
    api,
    direct_conversation,
    group_conversation,
    log_in,
    open_chat,
    post_message,
    screenshot,
    send,
    wait_connected,
)
from tests.stack import Stack

pytestmark = BROWSER_MARKS

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1200, "height": 800}


def item(page: Page, conversation_id: int) -> Any:
    return page.locator(f'a.conversation[data-conversation-id="{conversation_id}"]')


def badge(page: Page, conversation_id: int) -> str:
    """The unread badge of a conversation in the list ('' when there is none)."""
    badges = item(page, conversation_id).locator(".unread-badge")
    return badges.inner_text() if badges.count() else ""


def open_details(page: Page) -> None:
    if page.locator("#chat-details").is_hidden():
        page.locator("#chat-details-button").click()
    expect(page.locator("#chat-details")).to_be_visible()


def wait_read(
    stack: Stack, person: Person, conversation_id: int, message_id: str, timeout: float = 20
) -> None:
    """The server holds `person`'s read marker at `message_id` (a read frame is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        marker = api(stack, person, "GET", f"conversations/{conversation_id}")["last_read_message_id"]
        if marker == message_id:
            return
        assert time.monotonic() < deadline, (marker, message_id)
        time.sleep(0.2)


def my_ticks(page: Page) -> Any:
    return page.locator("#message-items .message[data-message-id] .ticks")


# ---------------------------------------------------------------- the offline device


def test_a_device_that_was_offline_comes_back_with_exactly_what_changed(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Alice has two browsers, A and B. B goes offline; meanwhile a message of the group is
    edited, one deleted, the group renamed, a member added and one removed, Bob and Carol write
    to her, and A reads Bob. B's socket comes back: the open conversation, the list, the members
    and the unread badges show exactly that, from the feed alone; a new page of B shows the same."""
    alice = people("alice", display_name="Alice Liddell")
    bob = people("bob", display_name="Bob Builder")
    carol = people("carol", display_name="Carol Danvers")
    dave = people("dave", display_name="Dave Lister")
    group = group_conversation(stack, alice, "Book club", [bob, carol])
    with_bob = direct_conversation(stack, alice, bob)
    with_carol = direct_conversation(stack, alice, carol)
    draft = post_message(stack, bob, group, "first draft", "feed-b1")
    doomed = post_message(stack, bob, group, "will vanish", "feed-b2")
    post_message(stack, carol, group, "hello all", "feed-c1")
    post_message(stack, bob, with_bob, "are you there?", "feed-b3")

    page_a = log_in(contexts(), alice)
    context_b = contexts()
    page_b = log_in(context_b, alice, f"/c/{group}")
    expect(page_b.locator("#message-items .message .body")).to_have_text(
        ["first draft", "will vanish", "hello all"]
    )
    expect(item(page_b, with_bob).locator(".unread-badge")).to_have_text("1")
    page_b.wait_for_function("() => !window.chatClient.syncing")

    # B goes offline: its socket is closed, and it does not come back by itself
    page_b.evaluate("() => window.chatClient.stop()")

    api(
        stack, bob, "PATCH", f"conversations/{group}/messages/{draft['id']}", {"body": "first draft, revised"}
    )
    api(stack, bob, "DELETE", f"conversations/{group}/messages/{doomed['id']}")
    open_chat(page_a, group)
    open_details(page_a)
    page_a.locator("#group-title-input").fill("Book club (2nd edition)")
    page_a.get_by_role("button", name="Rename").click()
    expect(page_a.locator("#chat-title")).to_have_text("Book club (2nd edition)")
    api(stack, bob, "POST", f"conversations/{group}/members", {"user_id": dave.id})
    api(stack, alice, "DELETE", f"conversations/{group}/members", {"user_id": carol.id})
    post_message(stack, bob, with_bob, "lunch?", "feed-b4")
    newest = post_message(stack, bob, with_bob, "at noon", "feed-b5")
    post_message(stack, carol, with_carol, "bye from the club", "feed-c2")
    post_message(stack, carol, with_carol, "see you", "feed-c3")
    open_chat(page_a, with_bob)  # A reads Bob's three
    expect(page_a.locator("#message-items .message .body")).to_have_text(
        ["are you there?", "lunch?", "at noon"]
    )
    wait_read(stack, alice, with_bob, newest["id"])
    expect(item(page_a, with_carol).locator(".unread-badge")).to_have_text("2")
    expect(item(page_a, with_bob).locator(".unread-badge")).to_have_count(0)

    def shows_what_changed(page: Page) -> None:
        expect(page.locator("#message-items .message .body")).to_have_text(
            ["first draft, revised", "This message was deleted", "hello all"]
        )
        expect(page.locator("#message-items .message .edited")).to_have_count(1)
        expect(page.locator("#chat-title")).to_have_text("Book club (2nd edition)")
        expect(item(page, group).locator(".conversation-title")).to_have_text("Book club (2nd edition)")
        expect(item(page, with_carol).locator(".unread-badge")).to_have_text(badge(page_a, with_carol))
        expect(item(page, with_bob).locator(".unread-badge")).to_have_count(0)
        expect(item(page, group).locator(".unread-badge")).to_have_count(0)
        open_details(page)
        members = page.locator("#chat-details .member-name")
        expect(members).to_have_count(3)
        for name, count in (
            ("Alice Liddell", 1),
            ("Bob Builder", 1),
            ("Dave Lister", 1),
            ("Carol Danvers", 0),
        ):
            expect(members.filter(has_text=name)).to_have_count(count)

    # B's socket comes back on the same page: the catch-up alone brings every change
    page_b.evaluate("() => window.chatClient.start()")
    wait_connected(page_b)
    shows_what_changed(page_b)
    screenshot(page_b, "feed-offline-device-back")

    # and a new page of B (the list and history read again, the feed replayed on top) the same
    page_b.close()
    page_b = context_b.new_page()
    page_b.goto(f"/c/{group}")
    wait_connected(page_b)
    page_b.wait_for_function("() => window.chatClient.lastSyncAt > 0 && !window.chatClient.syncing")
    shows_what_changed(page_b)


# ---------------------------------------------------------------- ticks


def test_ticks_go_from_sent_to_delivered_to_read_and_come_back_after_a_reload(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Alice writes to Bob: delivered while Bob's page is open elsewhere, read once he opens the
    conversation; in a group "n of m"; after Alice reloads, the ticks are rebuilt from REST."""
    alice = people("alice", display_name="Alice Liddell")
    bob = people("bob", display_name="Bob Builder")
    carol = people("carol", display_name="Carol Danvers")
    conversation = direct_conversation(stack, alice, bob)
    bob_page = log_in(contexts(), bob, "/people")
    alice_page = log_in(contexts(), alice, f"/c/{conversation}")

    send(alice_page, "Are you there?")
    expect(my_ticks(alice_page)).to_have_count(1)
    expect(my_ticks(alice_page).last).to_have_attribute("data-state", "delivered")
    expect(my_ticks(alice_page).last).to_have_attribute("aria-label", "Delivered")
    open_chat(bob_page, conversation)
    expect(my_ticks(alice_page).last).to_have_attribute("data-state", "read")
    expect(my_ticks(alice_page).last).to_have_attribute("aria-label", "Read")

    bob_page.goto("/people")  # Bob is still online, not looking at the conversation
    wait_connected(bob_page)
    send(alice_page, "Lunch at noon?")
    expect(my_ticks(alice_page)).to_have_count(2)
    expect(my_ticks(alice_page).last).to_have_attribute("aria-label", "Delivered")

    # the group: Bob's page is open, Carol has none yet
    group = group_conversation(stack, alice, "Lunch crew", [bob, carol])
    item(alice_page, group).click()
    send(alice_page, "Who is in?")
    expect(my_ticks(alice_page)).to_have_count(1)
    expect(my_ticks(alice_page).last).to_have_attribute(
        "aria-label", "Sent: delivered to 1 of 2, read by 0 of 2"
    )
    expect(my_ticks(alice_page).last).to_have_text("✓")
    carol_page = log_in(contexts(), carol, "/people")  # her catch-up delivers it
    expect(my_ticks(alice_page).last).to_have_attribute(
        "aria-label", "Delivered: delivered to 2 of 2, read by 0 of 2"
    )
    expect(my_ticks(alice_page).last).to_have_text("✓✓")
    open_chat(bob_page, group)
    expect(my_ticks(alice_page).last).to_have_attribute(
        "aria-label", "Delivered: delivered to 2 of 2, read by 1 of 2"
    )
    screenshot(alice_page, "chat-view-ticks")
    alice_page.set_viewport_size(PHONE)
    screenshot(alice_page, "chat-view-ticks-phone")
    alice_page.set_viewport_size(DESKTOP)

    # a reload: the ticks come from the members' positions in GET conversations/{id}
    alice_page.goto(f"/c/{group}")
    wait_connected(alice_page)
    expect(my_ticks(alice_page).last).to_have_attribute(
        "aria-label", "Delivered: delivered to 2 of 2, read by 1 of 2"
    )
    alice_page.goto(f"/c/{conversation}")
    wait_connected(alice_page)
    expect(my_ticks(alice_page)).to_have_count(2)
    expect(my_ticks(alice_page).nth(0)).to_have_attribute("aria-label", "Read")
    expect(my_ticks(alice_page).nth(1)).to_have_attribute("aria-label", "Delivered")

    # Carol reads too: all of the group
    open_chat(carol_page, group)
    item(alice_page, group).click()
    expect(my_ticks(alice_page).last).to_have_attribute("aria-label", "Read by 2 of 2")
    expect(my_ticks(alice_page).last).to_have_attribute("data-state", "read")


# ---------------------------------------------------------------- presence


def hide(page: Page, hidden: bool) -> None:
    """The page as the browser reports a hidden (another tab, minimised) or shown page."""
    page.evaluate(
        """(hidden) => {
            const value = hidden ? 'hidden' : 'visible';
            Object.defineProperty(document, 'visibilityState', { value, configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


def test_a_friend_whose_only_page_is_hidden_shows_as_away_then_online_again(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Alice's page is hidden: its heartbeats say idle, and Bob sees her away (the dot in his list
    and details, "Away" under the name); her page shown again, she is online."""
    alice = people("alice", display_name="Alice Liddell")
    bob = people("bob", display_name="Bob Builder")
    api(stack, alice, "POST", "friends/requests", {"user_id": bob.id})
    api(stack, bob, "POST", "friends/requests", {"user_id": alice.id})  # she had asked: friends
    conversation = direct_conversation(stack, bob, alice)
    alice_page = log_in(contexts(), alice)
    bob_page = log_in(contexts(), bob, f"/c/{conversation}")
    dot = item(bob_page, conversation).locator(".presence-dot")
    expect(dot).to_have_attribute("data-presence", "online")
    expect(bob_page.locator("#chat-subtitle")).to_have_text("Online")

    hide(alice_page, True)
    expect(dot).to_have_attribute("data-presence", "away")
    expect(dot).to_have_attribute("aria-label", "away")
    expect(bob_page.locator("#chat-subtitle")).to_have_text("Away")
    open_details(bob_page)
    expect(bob_page.locator('#chat-details .presence-dot[data-presence="away"]')).to_have_count(1)

    hide(alice_page, False)
    expect(dot).to_have_attribute("data-presence", "online")
    expect(bob_page.locator("#chat-subtitle")).to_have_text("Online")


def test_the_composer_of_a_conversation_alice_blocked_says_why_it_is_closed_until_she_unblocks(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Alice blocks Bob while their conversation is open: her composer is disabled at once (the
    live conversation.updated entry) and says why, also after a reload; unblocking opens it."""
    alice = people("alice", display_name="Alice Liddell")
    bob = people("bob", display_name="Bob Builder")
    conversation = direct_conversation(stack, alice, bob)
    page = log_in(contexts(), alice, f"/c/{conversation}")
    wait_connected(page)
    composer = page.locator("#composer-input")
    expect(composer).to_be_enabled()
    api(stack, alice, "POST", f"blocks/{bob.id}")
    expect(composer).to_be_disabled()
    expect(composer).to_have_attribute("placeholder", "Sending is blocked here.")
    expect(page.locator("#send-button")).to_be_disabled()
    expect(page.locator("#chat-subtitle")).to_have_text("Blocked: no messages either way")
    page.reload()
    wait_connected(page)
    expect(page.locator("#composer-input")).to_be_disabled()
    expect(page.locator("#history-status")).to_have_text("No messages.")
    screenshot(page, "composer-blocked")
    page.set_viewport_size(PHONE)
    expect(page.locator("#composer-input")).to_be_disabled()
    screenshot(page, "composer-blocked-phone")
    page.set_viewport_size(DESKTOP)
    api(stack, alice, "DELETE", f"blocks/{bob.id}")
    expect(page.locator("#composer-input")).to_be_enabled()
    expect(page.locator("#composer-input")).to_have_attribute("placeholder", "Write a message")
