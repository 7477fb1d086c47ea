"""Profiles and settings (`me`), avatars, the user directory and public profiles."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Block
from accounts.tests.factories import UserFactory
from accounts.tests.test_auth_api import assert_error

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"
AVATAR = "/api/v1/me/avatar"
USERS = "/api/v1/users"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def png(size: tuple[int, int] = (8, 8), image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


def test_me_shows_profile_and_settings(alice, api_client_for):
    """GET me returns my private fields and my settings."""
    body = api_client_for(alice).get(ME).json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["time_zone"] == "UTC"
    assert body["settings"] == {
        "notifications_enabled": True,
        "dnd_start": None,
        "dnd_end": None,
        "presence_visibility": "friends",
        "read_receipts_enabled": True,
        "push_previews_enabled": True,
    }


def test_me_needs_login():
    """Without credentials me is 401 for reading and writing."""
    assert_error(APIClient().get(ME), 401, "not_authenticated")
    assert_error(APIClient().patch(ME, {"bio": "x"}, format="json"), 401, "not_authenticated")


def test_patch_me_changes_profile_and_settings(alice, api_client_for):
    """A partial PATCH changes only the given fields, nested settings included."""
    client = api_client_for(alice)
    response = client.patch(
        ME,
        {
            "display_name": "Alice A.",
            "bio": "Tea.",
            "status_text": "in a meeting",
            "time_zone": "Europe/Paris",
            "settings": {"dnd_start": "22:00", "dnd_end": "07:00", "presence_visibility": "nobody"},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["display_name"], body["bio"], body["status_text"], body["time_zone"]) == (
        "Alice A.",
        "Tea.",
        "in a meeting",
        "Europe/Paris",
    )
    assert body["settings"]["dnd_start"] == "22:00"
    assert body["settings"]["presence_visibility"] == "nobody"
    assert body["settings"]["read_receipts_enabled"] is True
    alice.refresh_from_db()
    assert alice.presence_visibility == "nobody"
    assert client.patch(ME, {"settings": {"read_receipts_enabled": False}}, format="json").status_code == 200
    alice.refresh_from_db()
    assert alice.read_receipts_enabled is False
    assert alice.bio == "Tea."
    response = client.patch(ME, {"settings": {"push_previews_enabled": False}}, format="json")
    assert response.status_code == 200
    assert response.json()["settings"]["push_previews_enabled"] is False
    alice.refresh_from_db()
    assert alice.push_previews_enabled is False


def test_patch_me_rejects_invalid_fields(alice, bob, api_client_for):
    """Unknown time zones, bad enums, half a DND window and a taken email are field errors."""
    client = api_client_for(alice)
    response = client.patch(
        ME, {"time_zone": "Mars/Olympus", "settings": {"presence_visibility": "everyone"}}, format="json"
    )
    assert_error(response, 400, "invalid", ("time_zone", "settings.presence_visibility"))
    response = client.patch(ME, {"settings": {"dnd_start": "22:00"}}, format="json")
    assert_error(response, 400, "invalid", ("settings.dnd_start",))
    assert_error(client.patch(ME, {"email": "BOB@example.com"}, format="json"), 400, "invalid", ("email",))
    assert_error(client.patch(ME, {"bio": "x" * 501}, format="json"), 400, "invalid", ("bio",))
    alice.refresh_from_db()
    assert alice.time_zone == "UTC"


def test_inputs_take_only_the_types_the_schema_states(alice, api_client_for):
    """A number for a string, or 0 or "yes" for a boolean, is a 400 on that field, never coerced."""
    client = api_client_for(alice)
    response = client.patch(ME, {"bio": 0, "settings": {"push_previews_enabled": 0}}, format="json")
    assert_error(response, 400, "invalid", ("bio", "settings.push_previews_enabled"))
    response = client.patch(ME, {"bio": 12, "email": "not-an-email"}, format="json")
    assert_error(response, 400, "invalid", ("bio", "email"))
    response = client.patch(ME, {"settings": {"notifications_enabled": "yes"}}, format="json")
    assert_error(response, 400, "invalid", ("settings.notifications_enabled",))
    assert client.patch(ME, {"bio": None}, format="json").status_code == 400  # not nullable
    alice.refresh_from_db()
    assert (alice.bio, alice.push_previews_enabled, alice.notifications_enabled) == ("", True, True)


def test_avatar_upload_replace_and_remove(alice, api_client_for, settings):
    """An image upload sets the avatar under MEDIA_ROOT; a new one replaces it; DELETE removes it."""
    client = api_client_for(alice)
    response = client.post(AVATAR, {"avatar": SimpleUploadedFile("me.png", png(), "image/png")})
    assert response.status_code == 200, response.content
    first = response.json()["avatar_url"]
    assert first.startswith("/media/avatars/")
    first_path = settings.MEDIA_ROOT / first.removeprefix("/media/")
    assert first_path.exists()

    response = client.post(AVATAR, {"avatar": SimpleUploadedFile("me.jpg", png(image_format="JPEG"))})
    assert response.status_code == 200
    assert response.json()["avatar_url"] != first
    assert not first_path.exists()

    response = client.delete(AVATAR)
    assert response.status_code == 200
    assert response.json()["avatar_url"] is None


def test_avatar_rejects_non_images_wrong_types_and_large_files(alice, api_client_for, settings):
    """Text posing as an image, a BMP, and a file over AVATAR_MAX_BYTES are all 400 on `avatar`."""
    client = api_client_for(alice)
    fake = SimpleUploadedFile("me.png", b"not an image at all", "image/png")
    assert_error(client.post(AVATAR, {"avatar": fake}), 400, "invalid", ("avatar",))
    bmp = SimpleUploadedFile("me.bmp", png(image_format="BMP"), "image/bmp")
    assert_error(client.post(AVATAR, {"avatar": bmp}), 400, "invalid", ("avatar",))
    misnamed = SimpleUploadedFile("me.txt", png(), "image/png")
    assert_error(client.post(AVATAR, {"avatar": misnamed}), 400, "invalid", ("avatar",))
    settings.AVATAR_MAX_BYTES = 100
    big = SimpleUploadedFile("big.png", png((64, 64)), "image/png")
    assert_error(client.post(AVATAR, {"avatar": big}), 400, "invalid", ("avatar",))
    assert_error(client.post(AVATAR, {}), 400, "invalid", ("avatar",))
    assert_error(APIClient().post(AVATAR, {}), 401)


def test_public_profile_shows_public_fields_only(alice, bob, api_client_for):
    """users/{id} shows the public profile, never email or settings."""
    body = api_client_for(alice).get(f"{USERS}/{bob.pk}").json()
    assert set(body) == {"id", "username", "display_name", "avatar_url", "bio", "status_text"}
    assert body["username"] == "bob"


def test_public_profile_hidden_when_blocked_inactive_or_missing(alice, bob, carol, api_client_for):
    """A user who blocked me, an inactive user and an unknown id are 404; no login is 401."""
    Block.objects.create(blocker=bob, blocked=alice)
    carol.is_active = False
    carol.save()
    client = api_client_for(alice)
    assert_error(client.get(f"{USERS}/{bob.pk}"), 404, "not_found")
    assert_error(client.get(f"{USERS}/{carol.pk}"), 404, "not_found")
    assert_error(client.get(f"{USERS}/999999"), 404, "not_found")
    assert_error(APIClient().get(f"{USERS}/{bob.pk}"), 401)
    # the blocker still sees the user they blocked
    assert api_client_for(bob).get(f"{USERS}/{alice.pk}").status_code == 200


def test_directory_search_by_prefix_paginated_without_blockers(alice, bob, carol, api_client_for):
    """Search matches a prefix of username or display name, pages in a stable order, skips blockers."""
    UserFactory(username="bobby", display_name="Robert")
    UserFactory(username="zed", display_name="Bo Zed")
    Block.objects.create(blocker=carol, blocked=alice)
    client = api_client_for(alice)

    names = [u["username"] for u in client.get(USERS, {"search": "bo"}).json()["results"]]
    assert names == ["bob", "bobby", "zed"]
    assert [u["username"] for u in client.get(USERS, {"search": "ROB"}).json()["results"]] == ["bobby"]
    everyone = [u["username"] for u in client.get(USERS).json()["results"]]
    assert "carol" not in everyone
    assert "alice" in everyone

    first = client.get(USERS, {"page_size": 2}).json()
    second = client.get(USERS, {"page_size": 2, "page": 2}).json()
    assert first["count"] == len(everyone)
    assert [u["username"] for u in first["results"] + second["results"]] == everyone[:4]
    assert_error(client.get(USERS, {"page": 99}), 404)
    for page_size in ("0", "101", "ten", "null", ""):  # not silently the default, nor cut to 100
        assert_error(client.get(USERS, {"page_size": page_size}), 400, "invalid", ("page_size",))
    assert_error(client.get(USERS, {"search": "x" * 151}), 400, "invalid", ("search",))
    assert_error(APIClient().get(USERS), 401)
