"""A push registration belongs to the device login that made it (`Device.login_device`): when that
login ends — logout, a revoked token, a password change (every other device), a deactivation —
the registration goes, and that browser gets no more pushes; other devices' registrations stay."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import DeviceToken
from accounts.services import user_deactivate
from accounts.tests.factories import DEFAULT_PASSWORD
from notifications.models import Device
from notifications.tests.pushes import missed, push_decrypt, subscribe

pytestmark = pytest.mark.usefixtures("cassandra_keyspace")


def _login(username: str, device_name: str) -> tuple[Client, str]:
    """A bearer-token login of a device; (its client, its token's device id)."""
    client = Client()
    body = client.post(
        "/api/v1/auth/login",
        {"username": username, "password": DEFAULT_PASSWORD, "device_name": device_name},
        content_type="application/json",
    ).json()
    token = body["token"]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    devices = client.get("/api/v1/auth/tokens").json()["results"]
    return client, next(d["id"] for d in devices if d["current"])


class _Bearer:
    """A django test client as the `subscribe` helper calls it (`format="json"`)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def post(self, path: str, data: Any, format: str) -> Any:
        return self.client.post(path, data, content_type="application/json")


def test_logout_of_the_registering_device_stops_its_pushes_only(
    alice, bob, group_of, push_service, new_subscription, django_capture_on_commit_callbacks
):
    """Bob's phone logs out: its registration goes and gets no push of the next missed message,
    while his laptop's registration (another login) still gets it."""
    conversation = group_of(alice, bob)
    phone, phone_device = _login("bob", "phone")
    laptop, _ = _login("bob", "laptop")
    phone_push, laptop_push = (
        new_subscription(push_service.endpoint("phone")),
        new_subscription(push_service.endpoint("laptop")),
    )
    phone_registration = subscribe(_Bearer(phone), phone_push)
    subscribe(_Bearer(laptop), laptop_push)
    assert Device.objects.get(pk=phone_registration).login_device == f"token:{phone_device}"

    with django_capture_on_commit_callbacks(execute=True):
        assert phone.post("/api/v1/auth/logout").status_code == 204
    missed((bob, conversation.pk, 7_000_000_001))

    assert not Device.objects.filter(pk=phone_registration).exists()
    assert [request.path for request in push_service.requests] == ["/push/laptop"]
    assert push_decrypt(push_service.requests[0], laptop_push)["count"] == 1


def test_logout_of_a_browser_session_removes_its_registration(
    alice, bob, api_client_for, group_of, push_service, new_subscription, django_capture_on_commit_callbacks
):
    """A browser logged in with a session registers as `session:<key>`; its logout removes it."""
    conversation = group_of(alice, bob)
    browser = Client()
    login = browser.post(
        "/api/v1/auth/login",
        {"username": "bob", "password": DEFAULT_PASSWORD, "session": True},
        content_type="application/json",
    )
    assert login.status_code == 200
    registration = subscribe(_Bearer(browser), new_subscription(push_service.endpoint("browser")))
    assert Device.objects.get(pk=registration).login_device == f"session:{browser.session.session_key}"
    other = subscribe(api_client_for(bob, "phone"), new_subscription(push_service.endpoint("phone")))

    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/api/v1/auth/logout").status_code == 204
    missed((bob, conversation.pk, 7_000_000_002))

    assert list(Device.objects.filter(user=bob).values_list("pk", flat=True)) == [other]
    assert [request.path for request in push_service.requests] == ["/push/phone"]


def test_revoke_password_change_and_deactivation_remove_the_ended_logins_registrations(
    bob, push_service, new_subscription, django_capture_on_commit_callbacks
):
    """Revoking the phone's token removes its registration; a password change on the laptop
    removes the tablet's and keeps the laptop's; a deactivation removes every one."""
    phone, phone_device = _login("bob", "phone")
    laptop, _ = _login("bob", "laptop")
    tablet, _ = _login("bob", "tablet")
    phone_reg, laptop_reg, tablet_reg = (
        subscribe(_Bearer(client), new_subscription(push_service.endpoint(name)))
        for client, name in [(phone, "phone"), (laptop, "laptop"), (tablet, "tablet")]
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert laptop.delete(f"/api/v1/auth/tokens/{phone_device}").status_code == 204
    assert set(Device.objects.filter(user=bob).values_list("pk", flat=True)) == {laptop_reg, tablet_reg}

    with django_capture_on_commit_callbacks(execute=True):
        changed = laptop.post(
            "/api/v1/auth/password",
            {"old_password": DEFAULT_PASSWORD, "new_password": "another-long-passphrase-9"},
            content_type="application/json",
        )
    assert changed.status_code == 204, changed.content
    assert set(Device.objects.filter(user=bob).values_list("pk", flat=True)) == {laptop_reg}

    with django_capture_on_commit_callbacks(execute=True):
        user_deactivate(user=bob)
    assert not Device.objects.filter(user=bob).exists()
    assert phone_reg != tablet_reg


def test_a_browser_that_changed_its_password_and_logged_out_gets_no_pushes(
    bob, push_service, new_subscription, django_capture_on_commit_callbacks
):
    """A password change renews the browser's session key (the registration must follow it), so
    the browser's later logout still removes its registration."""
    browser = Client()
    browser.post(
        "/api/v1/auth/login",
        {"username": "bob", "password": DEFAULT_PASSWORD, "session": True},
        content_type="application/json",
    )
    registration = subscribe(_Bearer(browser), new_subscription(push_service.endpoint("browser")))
    with django_capture_on_commit_callbacks(execute=True):
        changed = browser.post(
            "/api/v1/auth/password",
            {"old_password": DEFAULT_PASSWORD, "new_password": "another-long-passphrase-9"},
            content_type="application/json",
        )
    assert changed.status_code == 204
    assert Device.objects.filter(pk=registration).exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post("/api/v1/auth/logout").status_code == 204
    assert not Device.objects.filter(pk=registration).exists()


def test_a_registration_whose_login_ran_out_is_not_pushed_to(bob, group_of, push_service, new_subscription):
    """The phone's token is gone without a logout (expired, or its signal was lost): the send
    checks the login, removes the registration and pushes only to the laptop."""
    conversation = group_of(bob)
    phone, phone_device = _login("bob", "phone")
    laptop, _ = _login("bob", "laptop")
    phone_reg = subscribe(_Bearer(phone), new_subscription(push_service.endpoint("phone")))
    subscribe(_Bearer(laptop), new_subscription(push_service.endpoint("laptop")))
    DeviceToken.objects.filter(device_id=phone_device).delete()  # no signal

    missed((bob, conversation.pk, 7_000_000_003))

    assert [request.path for request in push_service.requests] == ["/push/laptop"]
    assert not Device.objects.filter(pk=phone_reg).exists()
