"""The Django admin for users: search, filters, the user page, and deactivation."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import DeviceToken, Friendship, User
from accounts.services import device_token_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/user/"


@pytest.fixture
def admin_client_(db) -> Client:
    admin = User.objects.create_superuser(username="root", email="root@example.com", password="x")
    client = Client()
    client.force_login(admin)
    return client


def test_changelist_search_and_filters(admin_client_, alice, bob):
    """Search finds by username or email; the active filter narrows the list."""
    bob.is_active = False
    bob.save()
    page = admin_client_.get(CHANGELIST, {"q": "alice@exa"}).content.decode()
    assert "alice" in page
    assert ">bob<" not in page
    inactive = admin_client_.get(CHANGELIST, {"is_active__exact": "0"}).content.decode()
    assert ">bob<" in inactive
    assert ">alice<" not in inactive
    assert admin_client_.get(CHANGELIST, {"date_joined__gte": "2000-01-01 00:00:00+00:00"}).status_code == 200


def test_user_page_shows_friends_and_devices(admin_client_, alice, bob):
    """The user page lists the user's friends and logged-in devices, never a token."""
    Friendship.objects.create(user_low_id=min(alice.pk, bob.pk), user_high_id=max(alice.pk, bob.pk))
    token, raw = device_token_create(user=alice, device_name="alice's phone")
    page = admin_client_.get(f"{CHANGELIST}{alice.pk}/change/").content.decode()
    assert f"bob (#{bob.pk})" in page
    assert "alice&#x27;s phone" in page
    assert str(token.device_id) in page
    assert raw not in page
    assert token.digest not in page


def test_deactivate_action_revokes_tokens_at_once(admin_client_, alice, api_client_for):
    """The admin's deactivate action makes the user's tokens fail immediately."""
    client = api_client_for(alice)
    assert client.get("/api/v1/me").status_code == 200
    response = admin_client_.post(
        CHANGELIST, {"action": "deactivate", "_selected_action": [alice.pk]}, follow=True
    )
    assert response.status_code == 200
    assert not User.objects.get(pk=alice.pk).is_active
    assert not DeviceToken.objects.filter(user=alice).exists()
    assert client.get("/api/v1/me").status_code == 401


def test_non_staff_cannot_use_the_admin(alice):
    """A regular user is sent to the admin login page."""
    client = Client()
    client.force_login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
