"""The browser UI beyond the chat view: friends, groups, settings and devices, the phone-sized
layout, and the service worker's notifications."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_MARKS, direct_conversation, log_in, post_message, screenshot
from tests.stack import Stack, api_call

pytestmark = BROWSER_MARKS


def search_people(page: Page, text: str) -> None:
    page.get_by_role("link", name=re.compile("^People")).click()
    page.get_by_label("Find people").fill(text)


def test_friend_request_group_and_settings(stack: Stack, people: Any, contexts: Any) -> None:
    """Alice asks Bob to be friends, Bob accepts and messages her; Alice makes a group with Bob,
    renames it, adds and removes Carol; she edits her profile and logs out a device."""
    alice, bob, carol = people("alice"), people("bob"), people("carol", display_name="Carol Jones")
    alice_page = log_in(contexts(), alice)
    search_people(alice_page, bob.username)
    alice_page.get_by_role("button", name=f"Add {bob.username} as a friend").click()
    expect(alice_page.get_by_role("button", name=f"Cancel request to {bob.username}")).to_be_visible()

    bob_page = log_in(contexts(), bob)
    expect(bob_page.locator("#requests-badge")).to_have_text("1")
    bob_page.get_by_role("link", name=re.compile("^People")).click()
    bob_page.get_by_role("button", name=f"Accept {alice.username}").click()
    expect(bob_page.get_by_role("button", name=f"Unfriend {alice.username}")).to_be_visible()
    bob_page.get_by_role("button", name=f"Message {alice.username}").click()
    expect(bob_page.locator("#chat-title")).to_have_text("Alice")
    expect(bob_page).to_have_url(re.compile(r"/c/\d+$"))
    bob_page.get_by_role("textbox", name="Message").fill("Thanks for the add!")
    bob_page.get_by_role("textbox", name="Message").press("Enter")
    # friends see each other's presence: Bob is online in Alice's list
    bob_in_list = alice_page.locator("a.conversation", has_text="Thanks for the add!")
    expect(bob_in_list.locator(".presence-dot")).to_have_class(re.compile(r"\bpresence-online\b"))

    # a group from the friend list, renamed, with Carol added from a search and removed again
    alice_page.get_by_role("link", name="Chats").click()
    alice_page.get_by_role("button", name="New group").click()
    dialog = alice_page.locator("#dialog")
    dialog.get_by_label("Bob").check()
    dialog.get_by_role("button", name="Create group").click()
    dialog.get_by_label("Group name").fill("Book club")
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(alice_page.locator("#chat-title")).to_have_text("Book club")
    alice_page.get_by_role("button", name="Details").click()
    alice_page.locator("#chat-details").get_by_label("Group name").fill("Book club (fiction)")
    alice_page.get_by_role("button", name="Rename").click()
    expect(alice_page.locator("#chat-title")).to_have_text("Book club (fiction)")
    alice_page.get_by_role("button", name="Add people").click()
    dialog.get_by_label("Find people (friends are listed first)").fill("carol")
    dialog.get_by_label(re.compile("Carol Jones")).check()
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(alice_page.locator(".member-list li")).to_have_count(3)
    alice_page.locator(".member-list li", has_text="Carol Jones").get_by_role("button", name="Remove").click()
    dialog.get_by_role("button", name="Remove").click()
    expect(alice_page.locator(".member-list li")).to_have_count(2)
    alice_page.get_by_role("textbox", name="Message").fill("Welcome to the club")
    alice_page.get_by_role("textbox", name="Message").press("Enter")
    # the server announces no new membership live: Bob's list learns of the group with its first message
    bob_item = bob_page.locator("a.conversation", has_text="Book club (fiction)")
    expect(bob_item.locator(".conversation-preview")).to_have_text("Alice: Welcome to the club")
    assert api_call(stack.api, "GET", "conversations", token=carol.token)[1]["conversations"] == []

    # profile and devices
    alice_page.get_by_role("link", name="Settings").click()
    alice_page.get_by_label("Display name").fill("Alice A.")
    alice_page.get_by_label("Status").fill("Reading")
    alice_page.get_by_role("button", name="Save profile").click()
    expect(alice_page.locator("#me-name")).to_have_text("Alice A.")
    expect(alice_page.locator("#me-status")).to_have_text("Reading")
    devices = alice_page.locator("#device-list li")
    expect(devices).to_have_count(2)  # this browser, and the token the test registered with
    screenshot(alice_page, "settings")
    devices.nth(1).get_by_role("button").click()
    expect(devices).to_have_count(1)
    status, _ = api_call(stack.api, "GET", "me", token=alice.token)
    assert status == 401  # that device's token no longer works


def test_phone_sized_screen_shows_one_column_at_a_time(stack: Stack, people: Any, contexts: Any) -> None:
    """On a narrow screen the list and the chat are separate screens with a way back."""
    alice, bob = people("alice"), people("bob")
    conversation = direct_conversation(stack, alice, bob)
    post_message(stack, bob, conversation, "On my phone!", "p1")
    page = log_in(contexts(), alice)
    page.set_viewport_size({"width": 390, "height": 780})
    expect(page.locator("#conversation-list")).to_be_visible()
    expect(page.locator("#pane")).to_be_hidden()
    screenshot(page, "phone-list")
    page.locator(f'a.conversation[data-conversation-id="{conversation}"]').click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    expect(page.locator("#conversation-list")).to_be_hidden()
    page.get_by_role("textbox", name="Message").fill("Replying from a small screen")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message[data-message-id]")).to_have_count(2)
    screenshot(page, "phone-chat")
    page.locator("#view-chat").get_by_role("link", name="Back to conversations").click()
    expect(page.locator("#conversation-list")).to_be_visible()


def test_service_worker_shows_the_push_as_the_server_wrote_it(
    stack: Stack, people: Any, contexts: Any
) -> None:
    """A push becomes one notification per conversation, with the title and body the push worker
    wrote (notifications/payload.py: here two messages, previews off), asking nothing of the API."""
    alice, bob = people("alice"), people("bob", display_name="Bob Ross")
    conversation = direct_conversation(stack, alice, bob)
    post_message(stack, bob, conversation, "secret body", "sw1")
    context = contexts()
    context.grant_permissions(["notifications"])
    page = log_in(context, alice)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    worker = (
        context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    )
    assert worker.url.endswith("/sw.js")
    page.goto("about:blank")  # no window of the app is open: the worker shows the notification
    shown = worker.evaluate(
        """async (conversationId) => {
            const push = {
                type: 'messages', count: 2, conversation_ids: [conversationId], newest_message_id: '1',
                sender_name: 'Bob Ross', conversation_title: 'Bob Ross',
                title: 'Bob Ross', body: '2 new messages',
            };
            await show(push);
            const notes = await self.registration.getNotifications();
            return notes.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url}));
        }""",
        conversation,
    )
    assert shown == [
        {
            "title": "Bob Ross",
            "body": "2 new messages",
            "tag": f"conversation-{conversation}",
            "url": f"/c/{conversation}",
        }
    ]
