"""The pages of the browser UI: who gets which page, and the headers every response carries."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_app_sends_a_visitor_to_the_login_page_and_keeps_where_they_were_going(client: Client) -> None:
    """An anonymous visitor of a conversation URL is redirected to /login?next=<that URL>."""
    response = client.get("/c/12")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/c/12"


def test_a_logged_in_user_gets_the_app_with_their_id_and_the_heartbeat_interval(
    client: Client, alice: User, settings: object
) -> None:
    """The app page carries the user's id and the server's heartbeat interval for the client."""
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-user-id="{alice.pk}"' in html
    assert 'data-heartbeat-ms="10000"' in html
    assert "csrftoken" in response.cookies


def test_login_page_of_a_logged_in_user_goes_on_to_a_local_next_only(client: Client, alice: User) -> None:
    """/login with a session goes on to `next` when it is a path of this site, else to /."""
    client.force_login(alice)
    assert client.get("/login?next=/mentions")["Location"] == "/mentions"
    assert client.get("/login?next=https://evil.example/")["Location"] == "/"


def test_every_response_has_a_content_security_policy_without_inline_script(client: Client) -> None:
    """Pages, API answers and errors: script-src 'self', no inline script or style, no framing."""
    for path in ("/login", "/register", "/api/v1/me", "/no-such-page", "/sw.js"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["style-src"] == "'self'", path
        assert directives["frame-ancestors"] == "'none'"
        assert "ws://testserver" in directives["connect-src"]


def test_the_api_docs_get_their_cdn_but_still_no_inline_script(client: Client) -> None:
    """Swagger UI loads from jsDelivr and keeps its inline style; its script is a file."""
    response = client.get("/api/docs/")
    policy = response["Content-Security-Policy"]
    script = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "https://cdn.jsdelivr.net" in script
    assert "unsafe-inline" not in script
    assert b"<script>" not in response.content


def test_the_service_worker_is_served_from_the_root_with_its_scope(client: Client) -> None:
    """/sw.js is JavaScript, may control the whole site, and is revalidated on every load."""
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert b"notificationclick" in response.content
