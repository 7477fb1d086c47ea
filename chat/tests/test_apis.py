"""REST API of conversations and messages: the contract of DESIGN.md §3.1, access control, and
4xx (never 500) for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Block
from accounts.tests.factories import UserFactory
from chat.domain.snowflake import MAX_ID

MESSAGE_KEYS = {
    "id",
    "conversation_id",
    "sender_id",
    "body",
    "created_at",
    "client_msg_id",
    "mentions",
    "edited_at",
    "deleted",
}

pytestmark = pytest.mark.usefixtures("cassandra_clean")


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def open_direct(client: APIClient, other: Any) -> int:
    response = client.post("/api/v1/conversations", {"type": "direct", "user_id": other.pk}, format="json")
    assert response.status_code in (200, 201), response.content
    return int(response.json()["id"])


def make_group(client: APIClient, *members: Any, title: str = "team") -> int:
    response = client.post(
        "/api/v1/conversations",
        {"type": "group", "title": title, "member_ids": [m.pk for m in members]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


_sent = 0


def send(
    client: APIClient, conversation_id: int, body: str, client_msg_id: str | None = None
) -> dict[str, Any]:
    global _sent
    _sent += 1
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        {"client_msg_id": client_msg_id or f"m-{_sent}", "body": body},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    return dict(response.json())


def history(client: APIClient, conversation_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/conversations/{conversation_id}/messages", params)
    assert response.status_code == 200, response.content
    return dict(response.json())


def conversation(client: APIClient, conversation_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


def test_direct_conversation_is_one_per_pair(alice: Any, bob: Any) -> None:
    """Opening a direct conversation twice, from either side, gives the same one (201, then 200)."""
    a, b = client_for(alice), client_for(bob)
    first = a.post("/api/v1/conversations", {"type": "direct", "user_id": bob.pk}, format="json")
    again = a.post("/api/v1/conversations", {"type": "direct", "user_id": bob.pk}, format="json")
    other_side = b.post("/api/v1/conversations", {"type": "direct", "user_id": alice.pk}, format="json")
    assert (first.status_code, again.status_code, other_side.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == other_side.json()["id"]
    body = first.json()
    assert body["type"] == "direct"
    assert {m["user_id"] for m in body["members"]} == {alice.pk, bob.pk}
    assert (body["unread_count"], body["last_message"]) == (0, None)


def test_direct_conversation_refusals(alice: Any, bob: Any) -> None:
    """Not with myself, not with a missing user, and not with someone in a block."""
    a = client_for(alice)
    assert (
        a.post("/api/v1/conversations", {"type": "direct", "user_id": alice.pk}, format="json").status_code
        == 400
    )
    missing = a.post("/api/v1/conversations", {"type": "direct", "user_id": 999_999}, format="json")
    assert missing.status_code == 404
    huge = a.post("/api/v1/conversations", {"type": "direct", "user_id": 2**70}, format="json")
    assert huge.status_code == 400
    assert a.post("/api/v1/conversations", {"type": "direct"}, format="json").status_code == 400
    Block.objects.create(blocker=bob, blocked=alice)
    blocked = a.post("/api/v1/conversations", {"type": "direct", "user_id": bob.pk}, format="json")
    assert blocked.status_code == 403


def test_blocked_pair_cannot_use_their_direct_conversation(alice: Any, bob: Any) -> None:
    """After a block, neither side can send in the direct conversation; history stays readable."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    send(a, cid, "before the block")
    Block.objects.create(blocker=alice, blocked=bob)
    for client in (a, b):
        response = client.post(
            f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "x1", "body": "hi"}, format="json"
        )
        assert response.status_code == 403
        assert error_code(response) == "blocked"
    assert len(history(b, cid)["messages"]) == 1


def test_send_returns_the_message_object_and_resend_is_idempotent(alice: Any, bob: Any) -> None:
    """201 with the §3.2 message object (decimal-string id); a resend returns the same message."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    response = a.post(
        f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "uuid-1", "body": "hello"}, format="json"
    )
    assert response.status_code == 201
    message = response.json()
    assert set(message) == MESSAGE_KEYS
    assert isinstance(message["id"], str)
    assert int(message["id"]) > 0
    assert (message["conversation_id"], message["sender_id"], message["body"]) == (cid, alice.pk, "hello")
    assert (message["client_msg_id"], message["mentions"], message["edited_at"], message["deleted"]) == (
        "uuid-1",
        [],
        None,
        False,
    )
    assert message["created_at"].endswith("Z")
    resend = a.post(
        f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "uuid-1", "body": "hello"}, format="json"
    )
    assert resend.status_code == 200
    assert resend.json()["id"] == message["id"]
    assert [m["id"] for m in history(a, cid)["messages"]] == [message["id"]]
    # the same client_msg_id in another conversation is a client bug, not a resend
    other = make_group(a, bob)
    reused = a.post(
        f"/api/v1/conversations/{other}/messages", {"client_msg_id": "uuid-1", "body": "x"}, format="json"
    )
    assert reused.status_code == 409


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"client_msg_id": "a", "body": ""}, 400),
        ({"client_msg_id": "a", "body": "   \n\t"}, 400),
        ({"client_msg_id": "a", "body": "x" * 10_001}, 413),
        ({"body": "hi"}, 400),
        ({"client_msg_id": "", "body": "hi"}, 400),
        ({"client_msg_id": "has space", "body": "hi"}, 400),
        ({"client_msg_id": "a" * 65, "body": "hi"}, 400),
        ({"client_msg_id": "a", "body": None}, 400),
        ({"client_msg_id": ["a"], "body": "hi"}, 400),
    ],
)
def test_bad_messages_are_refused(alice: Any, bob: Any, payload: dict[str, Any], status: int) -> None:
    """Empty, blank, oversized bodies and malformed client_msg_ids get a 4xx error body."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    response = a.post(f"/api/v1/conversations/{cid}/messages", payload, format="json")
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_body_limit_is_a_setting(alice: Any, bob: Any) -> None:
    """CHAT_MESSAGE_MAX_LENGTH decides how long a body may be (10,000 exactly passes by default)."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    assert send(a, cid, "x" * 10_000)["body"] == "x" * 10_000
    with override_settings(CHAT_MESSAGE_MAX_LENGTH=5):
        response = a.post(
            f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "s", "body": "123456"}, format="json"
        )
    assert response.status_code == 413


def test_non_members_get_404_everywhere(alice: Any, bob: Any, carol: Any) -> None:
    """Carol, not a member, learns nothing: every endpoint of the conversation answers 404."""
    a, c = client_for(alice), client_for(carol)
    cid = make_group(a, bob)
    mid = send(a, cid, "secret")["id"]
    base = f"/api/v1/conversations/{cid}"
    responses = [
        c.get(base),
        c.patch(base, {"muted": True}, format="json"),
        c.get(f"{base}/messages"),
        c.get(f"{base}/messages", {"around": mid}),
        c.post(f"{base}/messages", {"client_msg_id": "c1", "body": "hi"}, format="json"),
        c.patch(f"{base}/messages/{mid}", {"body": "x"}, format="json"),
        c.delete(f"{base}/messages/{mid}"),
        c.post(f"{base}/read", {"message_id": mid}, format="json"),
        c.post(f"{base}/members", {"user_id": carol.pk}, format="json"),
        c.delete(f"{base}/members", {"user_id": bob.pk}, format="json"),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    missing = [a.get("/api/v1/conversations/999999"), a.get(f"/api/v1/conversations/{2**70}/messages")]
    assert [r.status_code for r in missing] == [404, 404]
    assert c.get("/api/v1/conversations").json()["conversations"] == []
    assert c.get("/api/v1/sync").json()["messages"] == []


def test_anonymous_requests_are_refused() -> None:
    """Without authentication nothing is served."""
    response = APIClient().get("/api/v1/conversations")
    assert response.status_code in (401, 403)


def test_only_the_sender_edits_or_deletes(alice: Any, bob: Any) -> None:
    """Bob cannot touch Alice's message; Alice's edit sets edited_at, her delete leaves a tombstone."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    mid = send(a, cid, "helo")["id"]
    url = f"/api/v1/conversations/{cid}/messages/{mid}"
    assert b.patch(url, {"body": "hacked"}, format="json").status_code == 403
    assert b.delete(url).status_code == 403
    edited = a.patch(url, {"body": "hello"}, format="json")
    assert edited.status_code == 200
    assert (edited.json()["body"], edited.json()["edited_at"] is not None) == ("hello", True)
    assert a.patch(url, {"body": "  "}, format="json").status_code == 400
    deleted = a.delete(url)
    assert deleted.status_code == 200
    assert (deleted.json()["deleted"], deleted.json()["body"]) == (True, "")
    assert a.patch(url, {"body": "again"}, format="json").status_code == 409
    assert a.delete(url).status_code == 200
    [tombstone] = history(b, cid)["messages"]
    assert (tombstone["id"], tombstone["deleted"], tombstone["body"]) == (mid, True, "")
    synced = b.get("/api/v1/sync", {"since": 0}).json()["messages"]
    assert [(m["id"], m["deleted"]) for m in synced] == [(mid, True)]
    missing = [
        a.patch(f"/api/v1/conversations/{cid}/messages/12345", {"body": "x"}, format="json"),
        a.delete(f"/api/v1/conversations/{cid}/messages/{2**64}"),
    ]
    assert [r.status_code for r in missing] == [404, 404]


@pytest.mark.parametrize(
    "params",
    [
        {"before": "abc"},
        {"before": "-1"},
        {"before": str(2**63)},
        {"after": "1.5"},
        {"around": "0x10"},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"around": "5", "before": "9"},
    ],
)
def test_bad_history_parameters_are_400(alice: Any, bob: Any, params: dict[str, str]) -> None:
    """Non-numeric, negative, oversized or conflicting parameters are a 400 error body."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    response = a.get(f"/api/v1/conversations/{cid}/messages", params)
    assert response.status_code == 400
    assert error_code(response) == "invalid"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/sync", {"since": "x"}),
        ("/api/v1/sync", {"since": str(2**64)}),
        ("/api/v1/sync", {"limit": "100000"}),
        ("/api/v1/mentions", {"before": "-5"}),
        ("/api/v1/mentions", {"limit": "0"}),
        ("/api/v1/conversations", {"limit": "x"}),
        ("/api/v1/conversations", {"before": str(2**70)}),
    ],
)
def test_bad_query_parameters_elsewhere_are_400(alice: Any, path: str, params: dict[str, str]) -> None:
    """Sync, mentions and the conversation list validate their parameters the same way."""
    assert client_for(alice).get(path, params).status_code == 400


def test_history_paging_over_rest(alice: Any, bob: Any) -> None:
    """before pages newest first to the end; after and around return the right windows."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    ids = [send(a, cid, f"n{i}")["id"] for i in range(7)]
    first = history(a, cid, limit=3)
    assert ([m["id"] for m in first["messages"]], first["has_more"]) == (ids[::-1][:3], True)
    second = history(a, cid, limit=3, before=first["messages"][-1]["id"])
    third = history(a, cid, limit=3, before=second["messages"][-1]["id"])
    assert [m["id"] for m in second["messages"] + third["messages"]] == ids[::-1][3:]
    assert third["has_more"] is False
    after = history(a, cid, after=ids[1], limit=2)
    assert ([m["id"] for m in after["messages"]], after["has_more"]) == ([ids[3], ids[2]], True)
    around = history(a, cid, around=ids[3], limit=4)
    assert [m["id"] for m in around["messages"]] == [ids[4], ids[3], ids[2], ids[1]]
    assert (around["has_more_before"], around["has_more_after"], around["has_more"]) == (True, True, True)
    assert history(a, cid, limit=100)["messages"][0]["id"] == ids[-1]


def test_read_markers_and_unread_counts(alice: Any, bob: Any) -> None:
    """Unread counts others' messages after my marker; the marker only moves forward."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    ids = [send(a, cid, f"m{i}")["id"] for i in range(3)]
    bobs_view = conversation(b, cid)
    assert bobs_view["unread_count"] == 3
    assert bobs_view["last_message"]["id"] == ids[-1]
    assert conversation(a, cid)["unread_count"] == 0  # my own messages are read
    read = b.post(f"/api/v1/conversations/{cid}/read", {"message_id": ids[1]}, format="json")
    assert read.json() == {"conversation_id": cid, "last_read_message_id": ids[1]}
    assert conversation(b, cid)["unread_count"] == 1
    back = b.post(f"/api/v1/conversations/{cid}/read", {"message_id": ids[0]}, format="json")
    assert back.json()["last_read_message_id"] == ids[1]
    send(b, cid, "my reply")
    assert conversation(b, cid)["unread_count"] == 0
    assert conversation(a, cid)["unread_count"] == 1
    # a marker from the far future is clamped, so later messages still count as unread
    b.post(f"/api/v1/conversations/{cid}/read", {"message_id": str(MAX_ID)}, format="json")
    send(a, cid, "later")
    assert conversation(b, cid)["unread_count"] == 1
    assert b.post(f"/api/v1/conversations/{cid}/read", {"message_id": "x"}, format="json").status_code == 400


def test_unread_count_is_capped(alice: Any, bob: Any) -> None:
    """Past CHAT_UNREAD_COUNT_CAP messages the count stops at the cap."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    for i in range(4):
        send(a, cid, f"m{i}")
    with override_settings(CHAT_UNREAD_COUNT_CAP=3):
        assert conversation(b, cid)["unread_count"] == 3


def test_conversation_list_is_ordered_by_last_activity(alice: Any, bob: Any, carol: Any) -> None:
    """The most recently active conversation comes first; `before` pages through the rest."""
    a = client_for(alice)
    first = open_direct(a, bob)
    second = open_direct(a, carol)
    group = make_group(a, bob, carol)
    send(a, first, "bump")
    listed = a.get("/api/v1/conversations").json()
    assert [c["id"] for c in listed["conversations"]] == [first, group, second]
    assert listed["conversations"][0]["last_message"]["body"] == "bump"
    page = a.get("/api/v1/conversations", {"limit": 2}).json()
    assert ([c["id"] for c in page["conversations"]], page["has_more"]) == ([first, group], True)
    rest = a.get("/api/v1/conversations", {"limit": 2, "before": group}).json()
    assert ([c["id"] for c in rest["conversations"]], rest["has_more"]) == ([second], False)


def test_group_membership_rules(alice: Any, bob: Any, carol: Any) -> None:
    """Members add others; only owner/admins remove others; anyone leaves; the owner hands over."""
    a, b, c = client_for(alice), client_for(bob), client_for(carol)
    cid = make_group(a, bob)
    dave: Any = UserFactory(username="dave")
    added = b.post(f"/api/v1/conversations/{cid}/members", {"user_id": carol.pk}, format="json")
    assert added.status_code == 201
    assert (
        b.post(f"/api/v1/conversations/{cid}/members", {"user_id": carol.pk}, format="json").status_code
        == 200
    )
    assert (
        c.delete(f"/api/v1/conversations/{cid}/members", {"user_id": bob.pk}, format="json").status_code
        == 403
    )
    assert (
        b.delete(f"/api/v1/conversations/{cid}/members", {"user_id": alice.pk}, format="json").status_code
        == 403
    )
    assert (
        a.delete(f"/api/v1/conversations/{cid}/members", {"user_id": carol.pk}, format="json").status_code
        == 204
    )
    assert c.get(f"/api/v1/conversations/{cid}").status_code == 404
    assert (
        a.post(f"/api/v1/conversations/{cid}/members", {"user_id": 999_999}, format="json").status_code == 404
    )
    # the owner leaves: bob, the only one left, becomes owner
    assert (
        a.delete(f"/api/v1/conversations/{cid}/members", {"user_id": alice.pk}, format="json").status_code
        == 204
    )
    view = conversation(b, cid)
    assert view["owner_id"] == bob.pk
    assert [(m["user_id"], m["role"]) for m in view["members"]] == [(bob.pk, "owner")]
    with override_settings(CHAT_GROUP_MAX_MEMBERS=2):
        assert (
            b.post(f"/api/v1/conversations/{cid}/members", {"user_id": dave.pk}, format="json").status_code
            == 201
        )
        full = b.post(f"/api/v1/conversations/{cid}/members", {"user_id": carol.pk}, format="json")
        assert (full.status_code, error_code(full)) == (409, "group_full")
        too_big = b.post(
            "/api/v1/conversations",
            {"type": "group", "title": "t", "member_ids": [alice.pk, carol.pk]},
            format="json",
        )
        assert too_big.status_code == 400
    direct = open_direct(a, bob)
    not_a_group = a.post(f"/api/v1/conversations/{direct}/members", {"user_id": carol.pk}, format="json")
    assert (not_a_group.status_code, error_code(not_a_group)) == (409, "not_a_group")


def test_wrong_json_types_and_blank_query_parameters_are_400(alice: Any, bob: Any) -> None:
    """A number for a body or title, a string for a boolean, a blank query parameter: 400 on the
    field, never coerced or ignored."""
    a = client_for(alice)
    cid = open_direct(a, bob)
    group = a.post("/api/v1/conversations", {"type": "group", "title": "t"}, format="json").json()["id"]
    answers = {
        "body": a.post(
            f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "m1", "body": 0}, format="json"
        ),
        "title": a.patch(f"/api/v1/conversations/{group}", {"title": 0}, format="json"),
        "muted": a.patch(f"/api/v1/conversations/{group}", {"muted": "yes"}, format="json"),
        "before": a.get(f"/api/v1/conversations/{cid}/messages?before="),
        "region": a.get("/api/v1/chat/server?region="),
    }
    for field, response in answers.items():
        assert (response.status_code, error_code(response)) == (400, "invalid"), field
        assert field in response.json()["error"]["fields"], field
    assert a.get(f"/api/v1/conversations/{group}").json()["title"] == "t"


def test_a_direct_conversation_is_not_a_group(alice: Any, bob: Any, carol: Any) -> None:
    """Adding or removing a member or renaming a direct conversation is 409 not_a_group: the
    request is well formed, it conflicts with what the conversation is."""
    a = client_for(alice)
    direct = open_direct(a, bob)
    answers = [
        a.post(f"/api/v1/conversations/{direct}/members", {"user_id": carol.pk}, format="json"),
        a.delete(f"/api/v1/conversations/{direct}/members?user_id={bob.pk}"),
        a.patch(f"/api/v1/conversations/{direct}", {"title": "ours"}, format="json"),
    ]
    assert [(r.status_code, error_code(r)) for r in answers] == [(409, "not_a_group")] * 3


def test_group_refuses_blocked_and_unknown_members(alice: Any, bob: Any, carol: Any) -> None:
    """A group cannot be made with, or grow by, someone in a block with the actor, or nobody."""
    a = client_for(alice)
    Block.objects.create(blocker=carol, blocked=alice)
    with_blocked = a.post(
        "/api/v1/conversations",
        {"type": "group", "title": "t", "member_ids": [bob.pk, carol.pk]},
        format="json",
    )
    assert with_blocked.status_code == 403
    unknown = a.post(
        "/api/v1/conversations", {"type": "group", "title": "t", "member_ids": [424242]}, format="json"
    )
    assert unknown.status_code == 400
    assert a.post("/api/v1/conversations", {"type": "group", "title": " "}, format="json").status_code == 400
    cid = make_group(a, bob)
    assert (
        a.post(f"/api/v1/conversations/{cid}/members", {"user_id": carol.pk}, format="json").status_code
        == 403
    )


def test_mentions_resolve_to_members(alice: Any, bob: Any, carol: Any) -> None:
    """@username of a member (any case, trailing dot) is a mention; strangers and e-mails are not."""
    a, b, c = client_for(alice), client_for(bob), client_for(carol)
    UserFactory(username="dave")
    cid = make_group(a, bob, carol)
    message = send(a, cid, "hi @Bob and @carol. cc @dave, @alice, mail x@bob.com")
    assert message["mentions"] == [bob.pk, carol.pk]
    quiet = send(a, cid, "nobody here")
    assert quiet["mentions"] == []
    for client in (b, c):
        page = client.get("/api/v1/mentions").json()
        assert ([m["id"] for m in page["messages"]], page["has_more"]) == ([message["id"]], False)
    assert a.get("/api/v1/mentions").json()["messages"] == []


def test_sync_over_rest(alice: Any, bob: Any, carol: Any) -> None:
    """Sync lists my messages from every conversation after since, ascending, with cur_max_message_id."""
    a, b = client_for(alice), client_for(bob)
    direct = open_direct(a, bob)
    group = make_group(a, bob, carol)
    only_carol = open_direct(a, carol)
    ids = [
        send(a, direct, "1")["id"],
        send(b, group, "2")["id"],
        send(a, only_carol, "not for bob")["id"],
        send(a, group, "3")["id"],
    ]
    mine = [ids[0], ids[1], ids[3]]
    page = b.get("/api/v1/sync", {"since": 0, "limit": 2}).json()
    assert ([m["id"] for m in page["messages"]], page["has_more"]) == (mine[:2], True)
    rest = b.get("/api/v1/sync", {"since": page["cur_max_message_id"], "limit": 2}).json()
    assert ([m["id"] for m in rest["messages"]], rest["has_more"]) == (mine[2:], False)
    # a sync looks back CHAT_LATE_ID_SECONDS before since (DESIGN.md §4): a later call may repeat
    # recent messages, never miss one; clients de-duplicate by ID
    done = b.get("/api/v1/sync", {"since": rest["cur_max_message_id"]}).json()
    assert {m["id"] for m in done["messages"]} <= set(mine)
    assert done["has_more"] is False
    # after leaving the group, its messages no longer come through sync
    b.delete(f"/api/v1/conversations/{group}/members", {"user_id": bob.pk}, format="json")
    assert [m["id"] for m in b.get("/api/v1/sync").json()["messages"]] == [ids[0]]


def test_mute_and_rename(alice: Any, bob: Any) -> None:
    """Muting is per member; only owner/admins rename a group."""
    a, b = client_for(alice), client_for(bob)
    cid = make_group(a, bob)
    assert b.patch(f"/api/v1/conversations/{cid}", {"muted": True}, format="json").json()["muted"] is True
    assert conversation(a, cid)["muted"] is False
    assert b.patch(f"/api/v1/conversations/{cid}", {"title": "mine"}, format="json").status_code == 403
    assert a.patch(f"/api/v1/conversations/{cid}", {"title": "ours"}, format="json").json()["title"] == "ours"


def test_openapi_schema_describes_the_endpoints(alice: Any) -> None:
    """The generated schema lists every conversation and message endpoint."""
    response = client_for(alice).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/messages/{message_id}",
        "/api/v1/conversations/{conversation_id}/read",
        "/api/v1/sync",
        "/api/v1/mentions",
    ):
        assert path in paths


def test_a_direct_conversation_says_when_its_pair_blocked_one_another(
    alice: Any, bob: Any, carol: Any
) -> None:
    """`blocked` is true for both sides of a blocked pair's direct conversation, false otherwise."""
    a, b = client_for(alice), client_for(bob)
    cid = open_direct(a, bob)
    group = make_group(a, bob, carol)
    assert a.get(f"/api/v1/conversations/{cid}").json()["blocked"] is False
    Block.objects.create(blocker=bob, blocked=alice)
    assert a.get(f"/api/v1/conversations/{cid}").json()["blocked"] is True
    listed = {c["id"]: c["blocked"] for c in b.get("/api/v1/conversations").json()["conversations"]}
    assert listed == {cid: True, group: False}


def test_redis_unreachable_mid_request_is_a_503_unavailable(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose Redis connection breaks gets 503 `unavailable` with Retry-After, not a 500."""
    import redis

    from chat.api import views

    def broken(**_: Any) -> None:
        raise redis.exceptions.ConnectionError("Connection lost")

    monkeypatch.setattr(views.selectors, "mention_list", broken)
    answer = client_for(alice).get("/api/v1/mentions")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "unavailable"
    assert answer["Retry-After"]
