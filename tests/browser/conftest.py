"""Fixtures of the browser end-to-end tests: one real stack (nginx, two API servers, two chat
servers, Celery, PostgreSQL, Redis, Cassandra) shared by every test of the package (and stopped
when the package is done, before the rest of the suite runs), and headless
Chromium from Debian's `chromium` package driven by Playwright (never a downloaded browser).

Users are made through the REST API, so the tests need no database access of their own; every
test names its users uniquely (`people`), as the stack's data lives for the whole package.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from conftest import cassandra_truncate
from tests.stack import ROOT, Stack, api_call

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
PASSWORD = "correct-horse-battery-staple"
SCREENSHOTS = ROOT / "var" / "screenshots"

# every test module of the package carries these: the stack needs the run's test database, which
# pytest-django creates only for the databases the collected tests ask for. Not transactional: the
# tests write only through the stack, so nothing is flushed and IDs never repeat between tests
# (Cassandra keeps the history of the whole package run)
BROWSER_MARKS = [pytest.mark.process, pytest.mark.django_db]

expect.set_options(timeout=20_000)  # generous: two cores carry the whole stack and the browser

# Playwright's sync API runs an event loop in this thread; pytest-django's database flush after
# each test is plain synchronous ORM work, which Django would refuse next to a running loop. The
# stack's processes are told the opposite (extra_env below): they keep Django's check.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="package")
def stack(django_db_setup: None, django_db_blocker: Any, cassandra_keyspace: str) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/browser.sh installs Debian's chromium")
    # nginx's workers (user nobody when started as root) read the static files of its directory
    s = Stack.in_scratch(
        "chat-browser-",
        extra_env={
            "POSTGRES_DB": str(connection.settings_dict["NAME"]),
            "CHAT_REGISTRY_REFRESH": "1",
            "CHAT_REGISTRY_TTL": "4",
            # one machine plays every user: the per-address and per-user budgets of the API are
            # raised, the chat servers' own limits stay as shipped
            "API_THROTTLE_ANON": "10000/min",
            "API_THROTTLE_USER": "10000/min",
            "PRESENCE_HEARTBEAT_INTERVAL": "3",
            "PRESENCE_OFFLINE_AFTER": "10",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",
            "CHAT_DRAIN_GRACE": "1",  # a quicker stop at the end
        },
    )
    s.run(str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v", "0")
    # the run's PostgreSQL database is new, so its IDs start again: an earlier run's history in
    # the same keyspace would surface in the new conversations
    cassandra_truncate(cassandra_keyspace)
    s.start()
    try:
        s.wait_ready()
        _wait_registered(s)
        _warm_up(s)
        yield s
    finally:
        s.stop()
        with django_db_blocker.unblock():
            _release_database()


def _release_database() -> None:
    """End the idle sessions left on the run's database once the stack has stopped, so that
    pytest-django can drop it at the end. Each test runs in a context of its own, and Django keeps
    a connection per context: the tests' finished ones stay open, idle, and would block the drop."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
        )
    connection.close()


def _warm_up(stack: Stack, timeout: float = 90) -> None:
    """One message through the whole pipeline (sync worker, Cassandra's prepared statements), so
    that the first test does not pay for a cold start under its own timeouts."""
    tokens = []
    for name in ("warmup_a", "warmup_b"):
        status, body = api_call(
            stack.api,
            "POST",
            "auth/register",
            {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert status == 201, body
        tokens.append((body["user"]["id"], body["token"]))
    (_, token_a), (id_b, _) = tokens
    status, conversation = api_call(
        stack.api, "POST", "conversations", {"type": "direct", "user_id": id_b}, token=token_a
    )
    assert status in (200, 201), conversation
    deadline = time.monotonic() + timeout
    while True:
        status, body = api_call(
            stack.api,
            "POST",
            f"conversations/{conversation['id']}/messages",
            {"client_msg_id": "warm-up", "body": "warm-up"},
            token=token_a,
        )
        if status in (200, 201) or time.monotonic() > deadline:
            assert status in (200, 201), (status, body)
            return
        time.sleep(1)


def _wait_registered(stack: Stack, timeout: float = 30) -> None:
    """Both chat servers are in discovery."""
    from chat.store.redis import keys as redis_keys
    from chatproject.redis_client import get_redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(redis_keys.servers_live(get_redis())) >= 2:
            return
        time.sleep(0.3)
    raise AssertionError("the chat servers did not register")


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
    )
    yield b
    b.close()


@dataclass
class Person:
    id: int
    username: str
    display_name: str
    token: str


_counter = itertools.count(1)


@pytest.fixture
def people(stack: Stack, request: pytest.FixtureRequest) -> Any:
    """`people("alice", display_name=...)`: a new user registered through the API, unique per test."""

    def make(name: str, *, display_name: str | None = None) -> Person:
        username = f"{name}{os.getpid() % 1000}{next(_counter)}"
        status, body = api_call(
            stack.api,
            "POST",
            "auth/register",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
                "display_name": display_name if display_name is not None else name.capitalize(),
            },
        )
        assert status == 201, body
        return Person(body["user"]["id"], username, body["user"]["display_name"], body["token"])

    return make


@pytest.fixture
def contexts(browser: Browser, stack: Stack) -> Iterator[Any]:
    """`contexts()`: a fresh browser context (its own cookies and storage: one person's browser),
    closed after the test. Console errors of the app fail the test."""
    made: list[BrowserContext] = []
    errors: list[str] = []

    def make() -> BrowserContext:
        context = browser.new_context(
            base_url=f"http://127.0.0.1:{stack.lb_port}", viewport={"width": 1200, "height": 800}
        )
        context.on("weberror", lambda error: errors.append(str(error.error)))
        context.on("console", lambda message: print(f"[console {message.type}] {message.text}"))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def log_in(context: BrowserContext, person: Person, path: str = "/") -> Page:
    """A page of the app with `person` logged in through the REST API (the form has its own test)."""
    page = context.new_page()
    csrf = context.request.get("/api/v1/auth/csrf").json()["csrf_token"]
    answer = context.request.post(
        "/api/v1/auth/login",
        data=json.dumps({"username": person.username, "password": PASSWORD, "session": True}),
        headers={"content-type": "application/json", "x-csrftoken": csrf},
    )
    assert answer.ok, answer.text()
    page.goto(path)
    wait_connected(page)
    return page


def wait_connected(page: Page, timeout: float = 20_000) -> None:
    page.wait_for_function("() => window.chatClient && window.chatClient.state === 'open'", timeout=timeout)


def chat_server_of(page: Page) -> str:
    """The chat server this page's socket reached through the load balancer (its /ws/<id>/ path)."""
    url = page.evaluate("() => window.chatClient.socket && window.chatClient.socket.url")
    return str(url).split("/ws/")[1].split("/")[0]


def api(stack: Stack, person: Person, method: str, path: str, body: Any = None) -> Any:
    status, answer = api_call(stack.api, method, path, body, token=person.token)
    assert status < 300, (status, answer)
    return answer


def post_message(stack: Stack, person: Person, conversation_id: int, body: str, client_msg_id: str) -> Any:
    """A message sent over REST (the same sync queue as a WebSocket send), once stored."""
    return api(
        stack,
        person,
        "POST",
        f"conversations/{conversation_id}/messages",
        {"client_msg_id": client_msg_id, "body": body},
    )


def direct_conversation(stack: Stack, a: Person, b: Person) -> int:
    return int(api(stack, a, "POST", "conversations", {"type": "direct", "user_id": b.id})["id"])


def group_conversation(stack: Stack, owner: Person, title: str, members: list[Person]) -> int:
    answer = api(
        stack,
        owner,
        "POST",
        "conversations",
        {"type": "group", "title": title, "member_ids": [m.id for m in members]},
    )
    return int(answer["id"])


def open_chat(page: Page, conversation_id: int) -> None:
    """Open a conversation from the list, as a click does."""
    page.locator(f'a.conversation[data-conversation-id="{conversation_id}"]').click()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()


def send(page: Page, text: str) -> None:
    """Type a message in the composer and press Enter."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
