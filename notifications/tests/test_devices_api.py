"""The push device endpoints (DESIGN.md §3.1 `devices`)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from notifications.models import Device

DEVICES = "/api/v1/devices"


def _register(client: APIClient, body: dict[str, Any]) -> Any:
    return client.post(DEVICES, body, format="json")


def test_webpush_registration_is_created_then_found_again(alice, api_client_for, new_subscription):
    """A subscription registers with 201; the same endpoint again gives the same device with 200."""
    client = api_client_for(alice)
    subscription = new_subscription("https://push.example.test/send/abc")
    first = _register(client, {"kind": "webpush", "subscription": subscription.as_json()})
    assert first.status_code == 201
    assert first.json()["kind"] == "webpush"
    assert first.json()["endpoint"] == "https://push.example.test/send/abc"
    again = _register(client, {"kind": "webpush", "subscription": subscription.as_json()})
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Device.objects.filter(user=alice).count() == 1


def test_resubscribing_with_new_keys_updates_the_device(alice, api_client_for, new_subscription):
    """The same endpoint with fresh keys keeps the device and encrypts to the new keys."""
    client = api_client_for(alice)
    old = new_subscription("https://push.example.test/send/abc")
    new = new_subscription("https://push.example.test/send/abc")
    _register(client, {"kind": "webpush", "subscription": old.as_json()})
    response = _register(client, {"kind": "webpush", "subscription": new.as_json()})
    assert response.status_code == 200
    device = Device.objects.get(user=alice)
    assert device.p256dh == new.as_json()["keys"]["p256dh"]


def test_fcm_and_apns_tokens_register(alice, api_client_for):
    """FCM and APNs devices register by token, once each."""
    client = api_client_for(alice)
    fcm = _register(client, {"kind": "fcm", "token": "fcm:token-1"})
    apns = _register(client, {"kind": "apns", "token": "a" * 64})
    assert (fcm.status_code, apns.status_code) == (201, 201)
    assert fcm.json()["token"] == "fcm:token-1"
    assert fcm.json()["endpoint"] is None
    assert _register(client, {"kind": "fcm", "token": "fcm:token-1"}).status_code == 200


def test_bad_registrations_are_400_with_the_error_body(alice, api_client_for, new_subscription, settings):
    """Non-https endpoints, malformed or wrong-size keys, and mixed kinds are refused."""
    settings.WEBPUSH_ALLOW_LOCAL_HTTP = False
    client = api_client_for(alice)
    good = new_subscription("https://push.example.test/send/abc").as_json()
    bad_bodies: list[dict[str, Any]] = [
        {"kind": "webpush", "subscription": {**good, "endpoint": "http://push.example.test/send"}},
        {"kind": "webpush", "subscription": {**good, "endpoint": "http://127.0.0.1:9/push"}},
        {"kind": "webpush", "subscription": {**good, "endpoint": "not a url"}},
        {"kind": "webpush", "subscription": {**good, "keys": {**good["keys"], "p256dh": "AAAA"}}},
        {"kind": "webpush", "subscription": {**good, "keys": {**good["keys"], "p256dh": "B" + "A" * 86}}},
        {"kind": "webpush", "subscription": {**good, "keys": {**good["keys"], "auth": "!!!!"}}},
        {"kind": "webpush", "subscription": {**good, "keys": {**good["keys"], "auth": "AAAA"}}},
        {"kind": "webpush"},
        {"kind": "webpush", "subscription": good, "token": "x"},
        {"kind": "fcm"},
        {"kind": "fcm", "token": "has spaces"},
        {"kind": "apns", "token": "t", "subscription": good},
        {"kind": "sms", "token": "t"},
    ]
    for body in bad_bodies:
        response = _register(client, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"
    assert not Device.objects.exists()


def test_local_http_endpoint_is_allowed_only_by_setting(alice, api_client_for, new_subscription, settings):
    """http://127.0.0.1 endpoints (a local push service) pass only with WEBPUSH_ALLOW_LOCAL_HTTP."""
    client = api_client_for(alice)
    body = {"kind": "webpush", "subscription": new_subscription("http://127.0.0.1:9/push/x").as_json()}
    settings.WEBPUSH_ALLOW_LOCAL_HTTP = False
    assert _register(client, body).status_code == 400
    settings.WEBPUSH_ALLOW_LOCAL_HTTP = True
    assert _register(client, body).status_code == 201


def test_list_and_delete_see_only_my_devices(alice, bob, api_client_for):
    """GET lists my devices only; deleting Bob's device is 404 for Alice, 204 for Bob."""
    alice_client, bob_client = api_client_for(alice), api_client_for(bob)
    mine = _register(alice_client, {"kind": "fcm", "token": "alice-token"}).json()
    bobs = _register(bob_client, {"kind": "fcm", "token": "bob-token"}).json()
    listed = alice_client.get(DEVICES).json()
    assert [d["id"] for d in listed] == [mine["id"]]
    response = alice_client.delete(f"{DEVICES}/{bobs['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert bob_client.delete(f"{DEVICES}/{bobs['id']}").status_code == 204
    assert bob_client.delete(f"{DEVICES}/{bobs['id']}").status_code == 404
    assert alice_client.delete(f"{DEVICES}/{mine['id']}").status_code == 204
    assert alice_client.get(DEVICES).json() == []


def test_oldest_registrations_go_beyond_the_cap(alice, api_client_for, settings):
    """A user keeps at most PUSH_DEVICES_PER_USER_MAX devices; the oldest are dropped."""
    settings.PUSH_DEVICES_PER_USER_MAX = 2
    client = api_client_for(alice)
    for n in range(3):
        _register(client, {"kind": "fcm", "token": f"token-{n}"})
    assert [d["token"] for d in client.get(DEVICES).json()] == ["token-1", "token-2"]


def test_device_endpoints_need_a_login(db):
    """Without a token every device endpoint is 401."""
    client = APIClient()
    assert client.get(DEVICES).status_code == 401
    assert client.post(DEVICES, {"kind": "fcm", "token": "t"}, format="json").status_code == 401
    assert client.delete(f"{DEVICES}/1").status_code == 401
    assert client.get(f"{DEVICES}/vapid-public-key").status_code == 401


def test_vapid_public_key_is_a_stable_p256_point(alice, api_client_for, settings, tmp_path):
    """The VAPID public key is a base64url uncompressed P-256 point, generated once and kept."""
    import base64

    client = api_client_for(alice)
    first = client.get(f"{DEVICES}/vapid-public-key").json()["public_key"]
    raw = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    assert len(raw) == 65
    assert raw[0] == 4
    assert settings.WEBPUSH_VAPID_KEY_FILE.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert client.get(f"{DEVICES}/vapid-public-key").json()["public_key"] == first


def test_vapid_key_from_settings_raw_or_pem(alice, api_client_for, settings):
    """WEBPUSH_VAPID_PRIVATE_KEY as PEM or as the raw base64url scalar gives the same public key."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    expected = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    client = api_client_for(alice)
    settings.WEBPUSH_VAPID_PRIVATE_KEY = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    from_pem = client.get(f"{DEVICES}/vapid-public-key").json()["public_key"]
    raw_scalar = key.private_numbers().private_value.to_bytes(32, "big")
    settings.WEBPUSH_VAPID_PRIVATE_KEY = base64.urlsafe_b64encode(raw_scalar).rstrip(b"=").decode()
    from_raw = client.get(f"{DEVICES}/vapid-public-key").json()["public_key"]
    assert from_pem == from_raw == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert not settings.WEBPUSH_VAPID_KEY_FILE.exists()


def test_schema_lists_the_device_operations(client):
    """The OpenAPI schema describes every device endpoint."""
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert set(paths["/api/v1/devices"]) == {"get", "post"}
    assert set(paths["/api/v1/devices/{device_id}"]) == {"delete"}
    assert set(paths["/api/v1/devices/vapid-public-key"]) == {"get"}
    assert {"200", "201", "400"} <= set(paths["/api/v1/devices"]["post"]["responses"])
