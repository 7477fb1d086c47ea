"""The browser chat UI end to end (issue 11): headless Chromium from Debian's package, driven by
Playwright, against the real stack behind nginx. Each test is a story of named people."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Dialog, Page, WebSocketRoute, expect

from tests.browser.conftest import (
    BROWSER_MARKS,
    PASSWORD,
    api,
    chat_server_of,
    direct_conversation,
    log_in,
    open_chat,
    post_message,
    screenshot,
    send,
    wait_connected,
)
from tests.stack import Stack

pytestmark = BROWSER_MARKS


def bodies(page: Page) -> list[str]:
    return page.locator("#message-items .message .body").all_inner_texts()


def stored_bodies(page: Page) -> list[str]:
    """Bodies of the messages the server has stored (pending ones carry no ID yet)."""
    return page.locator("#message-items .message[data-message-id] .body").all_inner_texts()


def on_other_servers(first: Page, second: Page, attempts: int = 8) -> None:
    """Move `second` through discovery until it holds a socket on another chat server than `first`."""
    for _ in range(attempts):
        if chat_server_of(first) != chat_server_of(second):
            return
        second.evaluate("() => window.chatClient.dropConnection()")
        second.wait_for_timeout(300)
        second.evaluate("() => window.chatClient.retryNow()")
        wait_connected(second)
    raise AssertionError(f"both pages stayed on {chat_server_of(first)}")


# ---------------------------------------------------------------- accounts


def test_sign_up_log_out_and_log_in_through_the_forms(
    stack: Stack, contexts: Callable[[], BrowserContext]
) -> None:
    """A visitor signs up with the form, lands in the app, logs out, and logs in again."""
    page = contexts().new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("dora_ui")
    page.get_by_label("Email").fill("dora_ui@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator('.field-error[data-field="password"]')).to_be_visible()  # the server's rule, shown
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Welcome, dora_ui")).to_be_visible()
    wait_connected(page)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))  # the session is gone

    page.get_by_label("Username").fill("dora_ui")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, dora_ui")).to_be_visible()
    wait_connected(page)


def test_every_page_has_a_content_security_policy_without_inline_script(stack: Stack, contexts: Any) -> None:
    """The login page, the app, the API docs and the admin carry a CSP with no 'unsafe-inline' script."""
    context = contexts()
    for path in ("/login", "/register", "/api/docs/", "/admin/login/", "/api/v1/me"):
        response = context.request.get(path)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, (path, policy)
        script = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
        assert "unsafe-inline" not in script, (path, policy)
        assert "frame-ancestors 'none'" in policy


# ---------------------------------------------------------------- conversation


def test_alice_and_bob_on_two_chat_servers_talk_see_typing_and_read_ticks(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Two browsers on different chat servers exchange messages both ways; typing shows; Alice's
    ticks move from sent to read when Bob reads; screenshots of the list and the chat view."""
    alice, bob = people("alice", display_name="Alice Liddell"), people("bob", display_name="Bob Builder")
    conversation = direct_conversation(stack, alice, bob)
    alice_page = log_in(contexts(), alice)
    bob_page = log_in(contexts(), bob)
    on_other_servers(alice_page, bob_page)

    open_chat(alice_page, conversation)
    send(alice_page, "Hi Bob! Lunch at noon?")
    expect(alice_page.locator("#message-items .message[data-message-id]")).to_have_count(1)
    # Bob's page is open: delivered follows sent at once (tests/browser/test_feed_ui.py has the ticks)
    expect(alice_page.locator(".ticks").last).to_have_attribute(
        "data-state", re.compile("^(sent|delivered)$")
    )

    # Bob sees it in his list first (unread), then opens the conversation
    bob_item = bob_page.locator(f'a.conversation[data-conversation-id="{conversation}"]')
    expect(bob_item.locator(".unread-badge")).to_have_text("1")
    expect(bob_item.locator(".conversation-preview")).to_have_text("Hi Bob! Lunch at noon?")
    open_chat(bob_page, conversation)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(["Hi Bob! Lunch at noon?"])
    expect(alice_page.locator(".ticks").last).to_have_attribute("data-state", "read")

    # typing shows on the other side
    bob_page.get_by_role("textbox", name="Message").press_sequentially("Sure", delay=30)
    expect(alice_page.locator("#typing-indicator")).to_have_text(re.compile("Bob Builder is typing"))
    bob_page.get_by_role("textbox", name="Message").fill(
        "Sure, see you there.\nI'll bring @" + alice.username
    )
    bob_page.get_by_role("button", name="Send").click()
    expect(alice_page.locator("#message-items .message .body")).to_have_text(
        ["Hi Bob! Lunch at noon?", f"Sure, see you there.\nI'll bring @{alice.username}"]
    )
    expect(alice_page.locator("#typing-indicator")).to_have_text("")
    expect(bob_page.locator(".message[data-message-id] .ticks").last).to_have_attribute("data-state", "read")

    # Shift+Enter is a new line, not a send
    box = alice_page.get_by_role("textbox", name="Message")
    box.fill("Great")
    box.press("Shift+Enter")
    box.press_sequentially("https://example.com/menu")
    assert box.input_value() == "Great\nhttps://example.com/menu"
    box.press("Enter")
    expect(bob_page.locator("#message-items .message .body a")).to_have_attribute(
        "href", "https://example.com/menu"
    )
    expect(alice_page.locator(".message[data-message-id] .ticks").last).to_have_attribute(
        "data-state", "read"
    )

    # a second conversation so that the list shows its order and previews
    carol = people("carol", display_name="Carol Danvers")
    group = api(
        stack,
        alice,
        "POST",
        "conversations",
        {"type": "group", "title": "Weekend hike", "member_ids": [bob.id, carol.id]},
    )
    post_message(stack, carol, group["id"], "Who's in for Saturday?", "c-hike-1")
    expect(alice_page.locator("a.conversation")).to_have_count(2)
    expect(alice_page.locator("a.conversation .conversation-title")).to_have_text(
        ["Weekend hike", "Bob Builder"]
    )
    screenshot(alice_page, "chat-view")  # docs/ui/chat-view.png is a copy of one
    alice_page.goto("/")
    wait_connected(alice_page)
    expect(alice_page.locator("a.conversation")).to_have_count(2)
    screenshot(alice_page, "conversation-list")
    # after a reload the ticks come from the members' read markers
    open_chat(alice_page, conversation)
    expect(alice_page.locator(".message[data-message-id] .ticks").last).to_have_attribute(
        "data-state", "read"
    )


def test_bob_reopens_and_sees_the_ten_messages_he_missed_once_in_order_with_a_badge(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Bob closes his page; Alice sends 10; Bob opens the app again: an unread badge of 10, and
    the 10 messages once each, in order."""
    alice, bob = people("alice"), people("bob")
    conversation = direct_conversation(stack, alice, bob)
    bob_context = contexts()
    bob_page = log_in(bob_context, bob)
    alice_page = log_in(contexts(), alice)
    open_chat(alice_page, conversation)
    send(alice_page, "before you left")
    expect(
        bob_page.locator(f'a.conversation[data-conversation-id="{conversation}"] .unread-badge')
    ).to_have_text("1")
    open_chat(bob_page, conversation)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(["before you left"])
    bob_page.close()

    for i in range(1, 11):
        send(alice_page, f"missed {i}")
    expect(alice_page.locator(".message[data-message-id]")).to_have_count(11)

    bob_page = bob_context.new_page()
    bob_page.goto("/")
    wait_connected(bob_page)
    item = bob_page.locator(f'a.conversation[data-conversation-id="{conversation}"]')
    expect(item.locator(".unread-badge")).to_have_text("10")
    bob_page.wait_for_function("() => window.chatClient.lastSyncAt > 0 && !window.chatClient.syncing")
    expect(item.locator(".unread-badge")).to_have_text("10")  # the catch-up does not count them again
    open_chat(bob_page, conversation)
    expected = ["before you left", *[f"missed {i}" for i in range(1, 11)]]
    expect(bob_page.locator("#message-items .message .body")).to_have_text(expected)
    expect(item.locator(".unread-badge")).to_have_count(0)
    # the "New messages" divider sits right above the first of the 10
    divider_next = bob_page.locator(".unread-divider + .message-group .body").first
    expect(divider_next).to_have_text("missed 1")
    ids = bob_page.locator("#message-items .message[data-message-id]").evaluate_all(
        "els => els.map(e => e.dataset.messageId)"
    )
    assert len(set(ids)) == 11


def test_alice_offline_types_three_messages_and_each_is_delivered_once_when_she_is_back(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """Alice's socket is cut and new ones are refused; she sends 3 messages (shown as sending, kept
    in the outbox); when the network returns they go out, each stored and shown once."""
    alice, bob = people("alice"), people("bob")
    conversation = direct_conversation(stack, alice, bob)
    bob_page = log_in(contexts(), bob)
    open_chat(bob_page, conversation)

    alice_context = contexts()
    network = {"up": True}
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        if not network["up"]:
            ws.close(code=1006, reason="network down")
            return
        ws.connect_to_server()
        sockets.append(ws)

    alice_context.route_web_socket(re.compile(r"/ws/"), route)
    alice_page = log_in(alice_context, alice)
    open_chat(alice_page, conversation)
    send(alice_page, "still here?")
    expect(bob_page.locator("#message-items .message .body")).to_have_text(["still here?"])

    network["up"] = False
    for ws in sockets:
        ws.close(code=1006, reason="cut")
    expect(alice_page.locator("#connection-banner")).to_be_visible()
    for text in ("one", "two", "three"):
        send(alice_page, text)
    expect(alice_page.locator('.message[data-client-msg-id] .ticks[data-state="pending"]')).to_have_count(3)
    assert alice_page.evaluate("() => window.chatClient.pending().length") == 3
    bob_page.wait_for_timeout(1000)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(["still here?"])

    network["up"] = True
    alice_page.evaluate("() => window.chatClient.retryNow()")
    expect(alice_page.locator("#connection-banner")).to_be_hidden(timeout=20_000)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(
        ["still here?", "one", "two", "three"]
    )
    expect(alice_page.locator("#message-items .message .body")).to_have_text(
        ["still here?", "one", "two", "three"]
    )
    expect(alice_page.locator(".message[data-message-id]")).to_have_count(4)
    assert alice_page.evaluate("() => window.chatClient.pending().length") == 0
    history = api(stack, bob, "GET", f"conversations/{conversation}/messages?limit=50")["messages"]
    assert sorted(m["body"] for m in history) == sorted(["still here?", "one", "two", "three"])  # stored once


def test_markup_in_bodies_and_names_is_shown_as_text_and_runs_nothing(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """An <img onerror> body and a <script> display name render as text; no dialog, no script."""
    mallory = people("mallory", display_name="<script>window.__pwned = 1</script>")
    bob = people("bob")
    conversation = direct_conversation(stack, mallory, bob)
    bob_page = log_in(contexts(), bob)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    bob_page.on("dialog", on_dialog)
    mallory_page = log_in(contexts(), mallory)
    open_chat(mallory_page, conversation)
    send(mallory_page, "<img src=x onerror=alert(1)>")
    send(mallory_page, '<b onmouseover="alert(2)">bold?</b> javascript:alert(3)')

    item = bob_page.locator(f'a.conversation[data-conversation-id="{conversation}"]')
    expect(item.locator(".conversation-title")).to_have_text("<script>window.__pwned = 1</script>")
    open_chat(bob_page, conversation)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(
        ["<img src=x onerror=alert(1)>", '<b onmouseover="alert(2)">bold?</b> javascript:alert(3)']
    )
    expect(bob_page.locator("#chat-title")).to_have_text("<script>window.__pwned = 1</script>")
    bob_page.locator("#message-items .message .body").last.hover()
    bob_page.wait_for_timeout(500)
    assert bob_page.locator("#message-items img, #message-items b, #message-items script").count() == 0
    assert bob_page.locator("#message-items a").count() == 0  # javascript: is not made a link
    assert bob_page.evaluate("() => window.__pwned") is None
    assert dialogs == []


def test_jump_from_mentions_to_an_old_message_loads_its_context_and_highlights_it(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """A mention 60 messages back: the Mentions view lists it; clicking loads the history around
    it (not the newest page) and highlights it."""
    alice, bob = people("alice"), people("bob")
    conversation = direct_conversation(stack, alice, bob)
    post_message(stack, alice, conversation, "context before", "before-0")
    mention = post_message(
        stack, alice, conversation, f"@{bob.username} can you check the report?", "mention-1"
    )
    for i in range(60):
        post_message(stack, alice, conversation, f"filler {i}", f"filler-{i}")

    bob_page = log_in(contexts(), bob)
    open_chat(bob_page, conversation)
    expect(bob_page.locator("#message-items .message .body").last).to_have_text("filler 59")
    assert (
        bob_page.locator(f'.message[data-message-id="{mention["id"]}"]').count() == 0
    )  # not in the newest page

    bob_page.get_by_role("link", name="Mentions").click()
    entry = bob_page.locator(f'.mention-entry[data-message-id="{mention["id"]}"]')
    expect(entry).to_contain_text("can you check the report?")
    entry.click()
    target = bob_page.locator(f'.message[data-message-id="{mention["id"]}"]')
    expect(target).to_be_visible()
    expect(target).to_have_class(re.compile(r"\bhighlighted\b"))
    expect(target.locator(".mention-me")).to_have_text(f"@{bob.username}")
    expect(bob_page.locator("#message-items .message .body").first).to_have_text("context before")
    expect(bob_page.locator("#jump-latest")).to_be_visible()
    bob_page.locator("#jump-latest").click()
    expect(bob_page.locator("#message-items .message .body").last).to_have_text("filler 59")
    # scrolling up reads the older pages (the reader keeps scrolling to the top until they are in)
    bob_page.wait_for_function(
        """() => {
            document.getElementById('messages').scrollTop = 0;
            return document.querySelectorAll('#message-items .message').length === 62;
        }"""
    )
    expect(bob_page.locator("#message-items .message .body").first).to_have_text("context before")
    expect(bob_page.locator("#history-status")).to_have_text("This is the start of the conversation.")


def test_edit_delete_and_mention_autocomplete(stack: Stack, people: Any, contexts: Any) -> None:
    """Alice mentions Bob through the autocomplete, edits her message and deletes another; Bob
    sees the edit and the tombstone live."""
    alice, bob = people("alice"), people("bob", display_name="Bobby Tables")
    conversation = direct_conversation(stack, alice, bob)
    bob_page = log_in(contexts(), bob)
    alice_page = log_in(contexts(), alice)
    open_chat(alice_page, conversation)
    box = alice_page.get_by_role("textbox", name="Message")
    box.press_sequentially("hi @Bob")
    option = alice_page.get_by_role("option", name=re.compile("Bobby Tables"))
    expect(option).to_be_visible()
    box.press("Enter")  # picks the suggestion, does not send
    assert box.input_value() == f"hi @{bob.username} "
    box.press_sequentially("typo here")
    box.press("Enter")
    send(alice_page, "to be deleted")
    open_chat(bob_page, conversation)
    expect(bob_page.locator("#message-items .message .body")).to_have_text(
        [f"hi @{bob.username} typo here", "to be deleted"]
    )
    expect(bob_page.locator("#message-items .message").first).to_have_class(re.compile(r"\bmentions-me\b"))

    first = alice_page.locator("#message-items .message[data-message-id]").first
    first.hover()
    first.get_by_role("button", name="Edit message").click()
    edit = alice_page.get_by_role("textbox", name="Edit message")
    edit.fill(f"hi @{bob.username} fixed")
    edit.press("Enter")
    last = alice_page.locator("#message-items .message[data-message-id]").last
    last.focus()
    last.get_by_role("button", name="Delete message").click()
    alice_page.locator("#dialog").get_by_role("button", name="Delete").click()

    expect(bob_page.locator("#message-items .message .body")).to_have_text(
        [f"hi @{bob.username} fixed", "This message was deleted"]
    )
    expect(bob_page.locator("#message-items .message .edited")).to_have_count(1)
    expect(alice_page.locator("#message-items .message .body")).to_have_text(
        [f"hi @{bob.username} fixed", "This message was deleted"]
    )
