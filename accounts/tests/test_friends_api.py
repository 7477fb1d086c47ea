"""Friend requests (send, accept, decline, cancel, lists), unfriending, and every block rule."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import FriendRequest
from accounts.selectors import friend_ids_of, presence_visible_to, user_blocked_between
from accounts.tests.test_auth_api import assert_error

pytestmark = pytest.mark.django_db

FRIENDS = "/api/v1/friends"
REQUESTS = "/api/v1/friends/requests"
INCOMING = "/api/v1/friends/requests/incoming"
OUTGOING = "/api/v1/friends/requests/outgoing"
BLOCKS = "/api/v1/blocks"


def send(client, user) -> dict:
    response = client.post(REQUESTS, {"user_id": user.pk}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def make_friends(client_a, client_b, b) -> None:
    request_id = send(client_a, b)["id"]
    assert client_b.post(f"{REQUESTS}/{request_id}/accept").status_code == 200


def friend_names(client) -> list[str]:
    return [f["user"]["username"] for f in client.get(FRIENDS).json()["results"]]


def test_request_then_accept_makes_friends(alice, bob, api_client_for):
    """Alice asks, Bob sees it incoming and accepts: both list each other as friends."""
    a, b = api_client_for(alice), api_client_for(bob)
    response = a.post(REQUESTS, {"user_id": bob.pk}, format="json")
    assert response.status_code == 201
    sent = response.json()
    assert (sent["from_user"]["id"], sent["to_user"]["id"], sent["status"]) == (alice.pk, bob.pk, "pending")
    assert [r["id"] for r in b.get(INCOMING).json()["results"]] == [sent["id"]]
    assert [r["id"] for r in a.get(OUTGOING).json()["results"]] == [sent["id"]]
    assert b.get(OUTGOING).json()["results"] == []

    accepted = b.post(f"{REQUESTS}/{sent['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert friend_names(a) == ["bob"]
    assert friend_names(b) == ["alice"]
    assert b.get(INCOMING).json()["results"] == []


def test_decline_and_cancel(alice, bob, carol, api_client_for):
    """The recipient declines, the sender cancels; no friendship, and a closed request stays closed."""
    a, b, c = api_client_for(alice), api_client_for(bob), api_client_for(carol)
    to_bob = send(a, bob)["id"]
    to_carol = send(a, carol)["id"]
    assert b.post(f"{REQUESTS}/{to_bob}/decline").json()["status"] == "declined"
    assert a.post(f"{REQUESTS}/{to_carol}/cancel").json()["status"] == "cancelled"
    assert friend_names(a) == []
    assert c.get(INCOMING).json()["results"] == []
    assert_error(b.post(f"{REQUESTS}/{to_bob}/accept"), 409, "request_not_pending")
    # declined: alice may ask again
    assert a.post(REQUESTS, {"user_id": bob.pk}, format="json").status_code == 201


def test_only_the_right_side_may_act_on_a_request(alice, bob, carol, api_client_for):
    """The sender cannot accept, the recipient cannot cancel, a stranger sees nothing (404)."""
    a, b, c = api_client_for(alice), api_client_for(bob), api_client_for(carol)
    request_id = send(a, bob)["id"]
    assert_error(a.post(f"{REQUESTS}/{request_id}/accept"), 404, "not_found")
    assert_error(b.post(f"{REQUESTS}/{request_id}/cancel"), 404, "not_found")
    for action in ("accept", "decline", "cancel"):
        assert_error(c.post(f"{REQUESTS}/{request_id}/{action}"), 404, "not_found")
        assert_error(APIClient().post(f"{REQUESTS}/{request_id}/{action}"), 401)
    assert_error(b.post(f"{REQUESTS}/999999/accept"), 404)


def test_request_input_and_conflicts(alice, bob, api_client_for):
    """Bad input is 400; asking twice is 409; unknown users are 404."""
    a = api_client_for(alice)
    assert_error(a.post(REQUESTS, {}, format="json"), 400, "invalid", ("user_id",))
    assert_error(a.post(REQUESTS, {"user_id": "x"}, format="json"), 400, "invalid", ("user_id",))
    assert_error(a.post(REQUESTS, {"user_id": alice.pk}, format="json"), 400, "invalid", ("user_id",))
    assert_error(a.post(REQUESTS, {"user_id": 999999}, format="json"), 404, "not_found")
    send(a, bob)
    assert_error(a.post(REQUESTS, {"user_id": bob.pk}, format="json"), 409, "request_pending")
    assert_error(APIClient().post(REQUESTS, {"user_id": bob.pk}, format="json"), 401)


def test_crossing_requests_become_a_friendship(alice, bob, api_client_for):
    """If Bob already asked Alice, Alice's request accepts his (200) instead of making a second one."""
    a, b = api_client_for(alice), api_client_for(bob)
    send(b, alice)
    response = a.post(REQUESTS, {"user_id": bob.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert friend_names(a) == ["bob"]
    assert_error(a.post(REQUESTS, {"user_id": bob.pk}, format="json"), 409, "already_friends")


def test_unfriend(alice, bob, carol, api_client_for):
    """Either side may unfriend; unfriending a non-friend is 404."""
    a, b = api_client_for(alice), api_client_for(bob)
    make_friends(a, b, bob)
    assert_error(a.delete(f"{FRIENDS}/{carol.pk}"), 404, "not_found")
    assert b.delete(f"{FRIENDS}/{alice.pk}").status_code == 204
    assert friend_names(a) == []
    assert_error(APIClient().delete(f"{FRIENDS}/{bob.pk}"), 401)
    assert_error(APIClient().get(FRIENDS), 401)


def test_friend_list_is_paginated_in_a_stable_order(alice, bob, carol, api_client_for):
    """Friends come oldest friendship first, a page at a time."""
    a = api_client_for(alice)
    make_friends(a, api_client_for(carol), carol)
    make_friends(a, api_client_for(bob), bob)
    assert friend_names(a) == ["carol", "bob"]
    page = a.get(FRIENDS, {"page_size": 1, "page": 2}).json()
    assert page["count"] == 2
    assert [f["user"]["username"] for f in page["results"]] == ["bob"]


def test_blocking_ends_friendship_and_pending_requests(alice, bob, carol, api_client_for):
    """A block removes the friendship and the requests between the pair, not others."""
    a, b = api_client_for(alice), api_client_for(bob)
    make_friends(a, b, bob)
    send(b, carol)
    send(api_client_for(carol), alice)
    response = a.post(f"{BLOCKS}/{bob.pk}")
    assert response.status_code == 201
    assert response.json()["user"]["id"] == bob.pk
    assert friend_ids_of(user_id=alice.pk) == set()
    assert user_blocked_between(user_id=bob.pk, other_id=alice.pk)
    assert friend_names(b) == []
    # alice's own pending requests with others are untouched
    assert [r["from_user"]["username"] for r in a.get(INCOMING).json()["results"]] == ["carol"]
    assert a.post(f"{BLOCKS}/{bob.pk}").status_code == 200  # idempotent


def test_blocking_cancels_pending_requests_both_ways(alice, bob, api_client_for):
    """Pending requests in either direction are cancelled by a block."""
    a, b = api_client_for(alice), api_client_for(bob)
    request_id = send(b, alice)["id"]
    a.post(f"{BLOCKS}/{bob.pk}")
    assert FriendRequest.objects.get(pk=request_id).status == "cancelled"
    assert a.get(INCOMING).json()["results"] == []
    assert_error(a.post(f"{REQUESTS}/{request_id}/accept"), 409, "request_not_pending")


def test_blocked_user_cannot_send_me_a_friend_request(alice, bob, api_client_for):
    """Bob, blocked by Alice, cannot find or ask her (404); Alice cannot ask Bob until she unblocks (403)."""
    a, b = api_client_for(alice), api_client_for(bob)
    a.post(f"{BLOCKS}/{bob.pk}")
    assert_error(b.post(REQUESTS, {"user_id": alice.pk}, format="json"), 404, "not_found")
    assert_error(a.post(REQUESTS, {"user_id": bob.pk}, format="json"), 403, "blocked")
    assert a.delete(f"{BLOCKS}/{bob.pk}").status_code == 204
    assert b.post(REQUESTS, {"user_id": alice.pk}, format="json").status_code == 201


def test_blocked_user_cannot_see_my_presence(alice, bob, api_client_for):
    """Presence visibility ends with the block and does not come back by unblocking alone."""
    a, b = api_client_for(alice), api_client_for(bob)
    make_friends(a, b, bob)
    assert presence_visible_to(user_id=alice.pk, viewer_id=bob.pk)
    a.post(f"{BLOCKS}/{bob.pk}")
    assert not presence_visible_to(user_id=alice.pk, viewer_id=bob.pk)
    a.delete(f"{BLOCKS}/{bob.pk}")
    assert not presence_visible_to(user_id=alice.pk, viewer_id=bob.pk)


def test_blocked_user_does_not_find_me_in_the_directory(alice, bob, api_client_for):
    """Users who blocked me are left out of my search results."""
    api_client_for(alice).post(f"{BLOCKS}/{bob.pk}")
    found = [
        u["username"] for u in api_client_for(bob).get("/api/v1/users", {"search": "al"}).json()["results"]
    ]
    assert found == []


def test_block_list_and_errors(alice, bob, api_client_for):
    """I list whom I blocked; blocking myself is 400, unknown users 404, unblocking a non-blocked 404."""
    a = api_client_for(alice)
    a.post(f"{BLOCKS}/{bob.pk}")
    assert [b["user"]["username"] for b in a.get(BLOCKS).json()["results"]] == ["bob"]
    assert_error(a.post(f"{BLOCKS}/{alice.pk}"), 400, "invalid", ("user_id",))
    assert_error(a.post(f"{BLOCKS}/999999"), 404, "not_found")
    assert_error(api_client_for(bob).delete(f"{BLOCKS}/{alice.pk}"), 404, "not_found")
    assert_error(APIClient().post(f"{BLOCKS}/{bob.pk}"), 401)
    assert_error(APIClient().get(BLOCKS), 401)
