"""Registration, login by username or email, per-device tokens, logout, password change,
lockout, CSRF for browser sessions, throttling, and the one error body."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from accounts.models import DeviceToken, User
from accounts.services import user_deactivate
from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/auth/password"
TOKENS = "/api/v1/auth/tokens"
ME = "/api/v1/me"
NEW_PASSWORD = "a-much-better-passphrase-42"


def login(identifier: str, password: str = DEFAULT_PASSWORD, device_name: str = "phone"):
    return APIClient().post(
        LOGIN, {"username": identifier, "password": password, "device_name": device_name}, format="json"
    )


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assert_error(response, status: int, code: str | None = None, fields: tuple[str, ...] = ()) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if code is not None:
        assert body["error"]["code"] == code
    for field in fields:
        assert field in body["error"]["fields"], body


def test_register_returns_user_and_a_working_token():
    """Registration gives 201 with the user and a bearer token that authenticates."""
    response = APIClient().post(
        REGISTER,
        {"username": "dave", "email": "dave@example.com", "password": NEW_PASSWORD, "display_name": "Dave"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "dave"
    assert body["user"]["display_name"] == "Dave"
    assert body["user"]["settings"]["presence_visibility"] == "friends"
    me = bearer(body["token"]).get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == "dave@example.com"
    assert User.objects.get(username="dave").password.startswith(("argon2", "md5"))


def test_register_rejects_taken_names_without_regard_to_case(alice):
    """Username and email are unique case-insensitively; the error names both fields."""
    response = APIClient().post(
        REGISTER, {"username": "ALICE", "email": "Alice@Example.com", "password": NEW_PASSWORD}, format="json"
    )
    assert_error(response, 400, "invalid", ("username", "email"))


def test_register_validates_input_and_password_strength():
    """A bad username, a bad email and a weak password are field errors."""
    response = APIClient().post(
        REGISTER, {"username": "no spaces!", "email": "not-an-email", "password": "123"}, format="json"
    )
    assert_error(response, 400, "invalid", ("username", "email"))
    response = APIClient().post(
        REGISTER, {"username": "erin", "email": "erin@example.com", "password": "password"}, format="json"
    )
    assert_error(response, 400, "invalid", ("password",))


def test_login_by_username_or_email_any_case(alice):
    """Login accepts the username or the email, in any case, and returns user and token."""
    for identifier in ("alice", "ALICE", "alice@example.com", "Alice@Example.COM"):
        response = login(identifier)
        assert response.status_code == 200, (identifier, response.content)
        assert response.json()["user"]["id"] == alice.pk
        assert response.json()["token"]


def test_login_with_wrong_password_or_missing_fields(alice):
    """Wrong credentials are 401 invalid_credentials; missing fields are 400 with field errors."""
    assert_error(login("alice", "wrong"), 401, "invalid_credentials")
    assert_error(login("nobody", "wrong"), 401, "invalid_credentials")
    assert_error(APIClient().post(LOGIN, {}, format="json"), 400, "invalid", ("username", "password"))


def test_inactive_user_cannot_log_in(alice):
    """A deactivated account cannot log in."""
    user_deactivate(user=alice)
    assert_error(login("alice"), 401, "invalid_credentials")


def test_two_logins_give_two_tokens_and_logout_revokes_only_one(alice):
    """Each device gets its own token; logging one out leaves the other working."""
    phone = login("alice", device_name="phone").json()["token"]
    laptop = login("alice", device_name="laptop").json()["token"]
    assert phone != laptop
    assert DeviceToken.objects.filter(user=alice).count() == 2
    assert bearer(phone).post(LOGOUT).status_code == 204
    assert_error(bearer(phone).get(ME), 401, "authentication_failed")
    assert bearer(laptop).get(ME).status_code == 200


def test_logout_requires_authentication():
    """Logout without credentials is 401 with the error body and a Bearer challenge."""
    response = APIClient().post(LOGOUT)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_deactivated_users_token_stops_working_at_once(alice):
    """Deactivating an account revokes its tokens: the next request is 401."""
    token = login("alice").json()["token"]
    assert bearer(token).get(ME).status_code == 200
    alice.is_active = False
    alice.save()  # even without the service deleting tokens, an inactive user's token is refused
    assert_error(bearer(token).get(ME), 401)


def test_garbage_bearer_tokens_are_401():
    """Unknown, malformed and non-ASCII tokens are refused with 401, never a 500."""
    for header in ("Bearer nope", "Bearer", "Bearer a b", "Bearer \u00e9\u00e9\u00e9"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert_error(client.get(ME), 401)


def test_device_list_and_revoke_one(alice, bob):
    """I see my devices (the current one marked), revoke another, and cannot touch someone else's."""
    phone = login("alice", device_name="phone").json()["token"]
    login("alice", device_name="laptop")
    bob_token = login("bob", device_name="bob phone").json()["token"]

    response = bearer(phone).get(TOKENS)
    assert response.status_code == 200
    devices = {d["device_name"]: d for d in response.json()["results"]}
    assert set(devices) == {"phone", "laptop"}
    assert devices["phone"]["current"] is True
    assert devices["laptop"]["current"] is False

    bob_device = bearer(bob_token).get(TOKENS).json()["results"][0]["id"]
    assert_error(bearer(phone).delete(f"{TOKENS}/{bob_device}"), 404, "not_found")
    assert bearer(bob_token).get(ME).status_code == 200

    assert bearer(phone).delete(f"{TOKENS}/{devices['laptop']['id']}").status_code == 204
    assert [d["device_name"] for d in bearer(phone).get(TOKENS).json()["results"]] == ["phone"]
    assert_error(APIClient().get(TOKENS), 401)


def test_password_change_keeps_this_device_and_logs_out_the_others(alice):
    """After a password change this device still works, the others get 401, the new password works."""
    phone = login("alice", device_name="phone").json()["token"]
    laptop = login("alice", device_name="laptop").json()["token"]
    response = bearer(phone).post(
        PASSWORD, {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204
    assert bearer(phone).get(ME).status_code == 200
    assert_error(bearer(laptop).get(ME), 401)
    assert login("alice", NEW_PASSWORD).status_code == 200
    assert_error(login("alice", DEFAULT_PASSWORD), 401)


def test_password_change_errors(alice):
    """A wrong old password or a weak new one is a field error; no login is 401."""
    client = bearer(login("alice").json()["token"])
    response = client.post(PASSWORD, {"old_password": "wrong", "new_password": NEW_PASSWORD}, format="json")
    assert_error(response, 400, "invalid", ("old_password",))
    response = client.post(
        PASSWORD, {"old_password": DEFAULT_PASSWORD, "new_password": "alice"}, format="json"
    )
    assert_error(response, 400, "invalid", ("new_password",))
    assert_error(APIClient().post(PASSWORD, {}, format="json"), 401)


def test_lockout_after_five_failures_by_username(alice):
    """Five wrong passwords lock the account: even the right password is then refused with 429."""
    for _ in range(4):
        assert_error(login("alice", "wrong"), 401, "invalid_credentials")
    assert_error(login("alice", "wrong"), 429, "locked_out")
    assert_error(login("alice"), 429, "locked_out")
    assert_error(login("alice@example.com"), 429, "locked_out")


def test_lockout_by_ip_covers_other_usernames(alice, bob):
    """Failures against many usernames from one address lock that address out."""
    for name in ("x1", "x2", "x3", "x4"):
        assert_error(login(name, "wrong"), 401)
    assert_error(login("x5", "wrong"), 429, "locked_out")
    assert_error(login("bob"), 429, "locked_out")
    other_address = APIClient(REMOTE_ADDR="10.0.0.7").post(
        LOGIN, {"username": "bob", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert other_address.status_code == 200


def test_success_resets_the_failure_count_of_the_username(alice):
    """A successful login clears the username's earlier failures (counted again from zero)."""
    for _ in range(4):
        login("alice", "wrong")
    assert login("alice").status_code == 200
    elsewhere = APIClient(REMOTE_ADDR="10.0.0.8")
    for _ in range(4):
        response = elsewhere.post(LOGIN, {"username": "alice", "password": "wrong"}, format="json")
        assert_error(response, 401, "invalid_credentials")


def test_session_login_requires_csrf_and_then_authenticates():
    """A browser login needs the CSRF token; the session then works and unsafe requests need CSRF too."""
    User.objects.create_user(username="frank", email="frank@example.com", password=DEFAULT_PASSWORD)
    browser = Client(enforce_csrf_checks=True)
    credentials = {"username": "frank", "password": DEFAULT_PASSWORD, "session": True}

    refused = browser.post(LOGIN, credentials, content_type="application/json")
    assert_error(refused, 403, "forbidden")

    csrf = browser.get("/api/v1/auth/csrf").json()["csrf_token"]
    response = browser.post(LOGIN, credentials, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200
    assert response.json()["token"] is None
    assert browser.get(ME).json()["username"] == "frank"

    csrf = browser.cookies["csrftoken"].value  # login rotates the token
    assert_error(browser.patch(ME, {"bio": "hi"}, content_type="application/json"), 403, "forbidden")
    patched = browser.patch(ME, {"bio": "hi"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert patched.status_code == 200
    assert patched.json()["bio"] == "hi"

    assert_error(browser.post(LOGOUT, content_type="application/json"), 403)
    assert browser.post(LOGOUT, content_type="application/json", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert_error(browser.get(ME), 401)


def test_throttling_answers_429_with_the_error_body(alice, api_client_for, monkeypatch):
    """Past the rate, anonymous and authenticated callers get 429 rate_limited."""
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    anonymous = APIClient()
    for _ in range(2):
        assert anonymous.get("/api/v1/auth/csrf").status_code == 200
    assert_error(anonymous.get("/api/v1/auth/csrf"), 429, "rate_limited")
    client = api_client_for(alice)
    for _ in range(3):
        assert client.get(ME).status_code == 200
    assert_error(client.get(ME), 429, "rate_limited")


def test_unknown_paths_and_methods_use_the_error_body(alice, api_client_for):
    """404 for an unknown API path or id, 405 for a wrong method, 415 for a wrong content type."""
    client = api_client_for(alice)
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.get("/api/v1/users/99999999999999999999"), 404, "not_found")
    assert_error(client.delete(ME), 405, "method_not_allowed")
    assert_error(client.post(LOGIN, "x", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(client.post(LOGIN, "{", content_type="application/json"), 400, "bad_request")
