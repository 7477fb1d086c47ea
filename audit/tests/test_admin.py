"""The audit log in the admin, and the audited admins of accounts and notifications: friend
requests, blocks, login devices (revoke), push registrations — one entry per action."""

from __future__ import annotations

import pytest

from accounts.models import Block, DeviceToken, FriendRequest, User
from accounts.services import block_create, device_token_create, friend_request_send
from audit.models import AdminAction
from audit.services import admin_action_record
from notifications.models import Device
from notifications.services import device_register

pytestmark = pytest.mark.django_db


def test_audit_log_is_read_only(operator):
    """The audit log lists entries and offers no add, change or delete."""
    root = User.objects.get(username="root")
    entry = admin_action_record(actor=root, action="x.test", target_type="x", target_id=1)
    assert "x.test" in operator.get("/admin/audit/adminaction/").content.decode()
    page = operator.get(f"/admin/audit/adminaction/{entry.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert operator.get("/admin/audit/adminaction/add/").status_code == 403
    assert operator.post(f"/admin/audit/adminaction/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AdminAction.objects.count() == 1


def test_record_pages_render(operator, alice, bob):
    """The changelists and change pages of friend requests, blocks, login devices and push
    registrations render, and never show a token."""
    request, _ = friend_request_send(from_user=alice, to_user_id=bob.pk)
    block, _ = block_create(blocker=bob, blocked_id=alice.pk)
    token, raw = device_token_create(user=alice, device_name="phone")
    device, _ = device_register(
        user=alice, kind="fcm", token="fcm-token-1", login_device=f"token:{token.device_id}"
    )
    for url in (
        "/admin/accounts/friendrequest/",
        f"/admin/accounts/friendrequest/{request.pk}/change/",
        "/admin/accounts/block/",
        f"/admin/accounts/block/{block.pk}/change/",
        "/admin/accounts/devicetoken/",
        f"/admin/accounts/devicetoken/{token.pk}/change/",
        "/admin/notifications/device/",
        f"/admin/notifications/device/{device.pk}/change/",
        "/admin/",
    ):
        response = operator.get(url)
        assert response.status_code == 200, url
        # the token never; its digest (knox's primary key, a one-way hash) is in the URLs
        assert raw not in response.content.decode()
    assert "fcm-token-1" in operator.get("/admin/notifications/device/").content.decode()
    assert "phone" in operator.get("/admin/accounts/devicetoken/", {"q": "alice"}).content.decode()


def test_revoke_ends_the_login_and_its_push_registrations(
    operator, alice, api_client_for, django_capture_on_commit_callbacks
):
    """The revoke action logs the device out through the service: its token fails at once, its push
    registrations go; one audit entry."""
    client = api_client_for(alice, "tablet")
    token = DeviceToken.objects.get(user=alice, device_name="tablet")
    device_register(user=alice, kind="fcm", token="t-1", login_device=f"token:{token.device_id}")
    assert client.get("/api/v1/me").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        operator.post("/admin/accounts/devicetoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert client.get("/api/v1/me").status_code == 401
    assert not Device.objects.filter(user=alice).exists()
    [entry] = AdminAction.objects.all()
    assert (entry.action, entry.target_id) == ("device_token.revoke", str(token.device_id))


def test_deleting_a_block_unblocks_through_the_service(operator, alice, bob):
    """Deleting a block in the admin is an unblock; deleting a friend request, a push registration
    too; one audit entry per deleted row."""
    block, _ = block_create(blocker=alice, blocked_id=bob.pk)
    request, _ = friend_request_send(from_user=bob, to_user_id=User.objects.get(username="root").pk)
    device, _ = device_register(user=alice, kind="apns", token="a-1")
    operator.post(f"/admin/accounts/block/{block.pk}/delete/", {"post": "yes"})
    operator.post(
        "/admin/accounts/friendrequest/",
        {"action": "delete_selected", "_selected_action": [request.pk], "post": "yes"},
    )
    operator.post(f"/admin/notifications/device/{device.pk}/delete/", {"post": "yes"})
    assert not Block.objects.exists()
    assert not FriendRequest.objects.exists()
    assert not Device.objects.exists()
    assert [(a.action, a.target_id) for a in AdminAction.objects.order_by("id")] == [
        ("block.delete", str(block.pk)),
        ("friendrequest.delete", str(request.pk)),
        ("device.delete", str(device.pk)),
    ]


def test_login_devices_are_not_edited_or_deleted_but_revoked(operator, alice):
    """A login device has no change or plain delete: only "revoke", which ends its sockets too."""
    token, _ = device_token_create(user=alice, device_name="phone")
    page = operator.get(f"/admin/accounts/devicetoken/{token.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert (
        operator.post(f"/admin/accounts/devicetoken/{token.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert DeviceToken.objects.filter(pk=token.pk).exists()


def test_user_deactivation_is_audited(operator, alice):
    """The users page's deactivate action writes one audit entry per user."""
    operator.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [alice.pk]})
    assert [(a.action, a.target_id) for a in AdminAction.objects.all()] == [
        ("user.deactivate", str(alice.pk))
    ]
