"""The operators' admin of conversations and memberships: pages, rename, archive, membership
changes — each through the services (members' feeds, send rules) with one audit entry."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from audit.models import AdminAction
from chat import services
from chat.models import Conversation, MemberRole, Membership
from chat.tests.test_apis import client_for, send
from chat.tests.test_feed import entries_of

pytestmark = pytest.mark.usefixtures("cassandra_clean")

CONVERSATIONS = "/admin/chat/conversation/"
MEMBERSHIPS = "/admin/chat/membership/"


@pytest.fixture
def group(alice: Any, bob: Any) -> Conversation:
    return services.conversation_group_create(owner=alice, title="Plans", member_ids=[bob.pk])


def _change_form(conversation: Conversation, *, title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The POST of a conversation's change page: its title and the membership inline's rows."""
    existing = list(conversation.memberships.order_by("id"))
    data: dict[str, Any] = {
        "title": title,
        "memberships-TOTAL_FORMS": len(rows),
        "memberships-INITIAL_FORMS": len(existing),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"memberships-{i}-{key}"] = value
        data[f"memberships-{i}-conversation"] = conversation.pk
    return data


def _rows(conversation: Conversation) -> list[dict[str, Any]]:
    return [{"id": m.pk, "user": m.user_id, "role": m.role} for m in conversation.memberships.order_by("id")]


def test_pages_render_and_search(operator, group, alice, bob):
    """The changelist shows kind, title, member count and archived; search finds by member; the
    change page shows the members with their roles; the membership pages render."""
    page = operator.get(CONVERSATIONS).content.decode()
    assert "Plans" in page
    assert "members" in page
    assert "Plans" in operator.get(CONVERSATIONS, {"q": "bob"}).content.decode()
    assert "Plans" not in operator.get(CONVERSATIONS, {"q": "nobody"}).content.decode()
    change = operator.get(f"{CONVERSATIONS}{group.pk}/change/")
    assert change.status_code == 200
    assert 'value="owner" selected' in change.content.decode()
    assert operator.get(MEMBERSHIPS).status_code == 200
    membership = Membership.objects.get(conversation=group, user=bob)
    assert operator.get(f"{MEMBERSHIPS}{membership.pk}/change/").status_code == 200
    assert operator.get(f"{MEMBERSHIPS}add/").status_code == 200


def test_rename_action_enters_members_feeds(operator, group, alice, bob, django_capture_on_commit_callbacks):
    """The rename action (an intermediate form) renames through the service: every member's feed
    gets conversation.updated; one audit entry."""
    form = operator.post(CONVERSATIONS, {"action": "rename", "_selected_action": [group.pk]})
    assert form.status_code == 200
    assert 'name="apply"' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(
            CONVERSATIONS, {"action": "rename", "_selected_action": [group.pk], "apply": "1", "title": "Trip"}
        )
    assert Conversation.objects.get(pk=group.pk).title == "Trip"
    for member in (alice, bob):
        assert {"conversation_id": group.pk, "title": "Trip", "blocked": False} in entries_of(
            member, "conversation.updated"
        )
    [entry] = AdminAction.objects.all()
    assert (entry.action, entry.target_id, entry.details) == (
        "conversation.rename",
        str(group.pk),
        {"from": "Plans", "to": "Trip"},
    )


def test_title_edit_on_change_page_goes_through_the_service(
    operator, group, alice, bob, django_capture_on_commit_callbacks
):
    """Editing the title on the change page is a rename: members' feeds learn it; one audit entry."""
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            f"{CONVERSATIONS}{group.pk}/change/", _change_form(group, title="Trip", rows=_rows(group))
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Conversation.objects.get(pk=group.pk).title == "Trip"
    assert entries_of(bob, "conversation.updated")[-1]["title"] == "Trip"
    [entry] = AdminAction.objects.all()
    assert entry.action == "conversation.change"
    assert entry.details["change"] == [{"changed": {"fields": ["Title"]}}]


def test_archive_refuses_sends_and_says_archived(
    operator, group, alice, bob, django_capture_on_commit_callbacks
):
    """Archived: a REST send gets 403 conversation_archived, the conversation says archived, the
    members' feeds say so; restored: sends work again. One audit entry per action."""
    client = client_for(alice)
    send(client, group.pk, "before")
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(CONVERSATIONS, {"action": "archive", "_selected_action": [group.pk]})
    refused = client.post(
        f"/api/v1/conversations/{group.pk}/messages", {"client_msg_id": "a-1", "body": "hello"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "conversation_archived"
    assert client.get(f"/api/v1/conversations/{group.pk}").json()["archived"] is True
    assert entries_of(bob, "conversation.updated")[-1] == {
        "conversation_id": group.pk,
        "title": "Plans",
        "blocked": False,
        "archived": True,
    }
    assert [a.action for a in AdminAction.objects.all()] == ["conversation.archive"]
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(CONVERSATIONS, {"action": "unarchive", "_selected_action": [group.pk]})
    assert client.get(f"/api/v1/conversations/{group.pk}").json()["archived"] is False
    assert send(client, group.pk, "after")["body"] == "after"
    assert AdminAction.objects.filter(action="conversation.unarchive", target_id=str(group.pk)).count() == 1


def test_inline_adds_removes_and_promotes_members(
    operator, group, alice, bob, carol, django_capture_on_commit_callbacks
):
    """The members inline adds (feeds: member.added, conversation.joined), removes (member.removed,
    conversation.left) and changes roles through the services; the save is one audit entry."""
    rows = [r for r in _rows(group) if r["user"] != bob.pk]
    rows += [
        {"id": r["id"], "user": bob.pk, "role": "member", "DELETE": "on"}
        for r in _rows(group)
        if r["user"] == bob.pk
    ]
    rows.append({"id": "", "user": carol.pk, "role": MemberRole.ADMIN})
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            f"{CONVERSATIONS}{group.pk}/change/", _change_form(group, title="Plans", rows=rows)
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    roles = dict(Membership.objects.filter(conversation=group).values_list("user_id", "role"))
    assert roles == {alice.pk: MemberRole.OWNER, carol.pk: MemberRole.ADMIN}
    assert {"conversation_id": group.pk, "user_id": carol.pk} in entries_of(alice, "member.added")
    assert entries_of(carol, "conversation.joined")
    assert {"conversation_id": group.pk} in entries_of(bob, "conversation.left")
    [entry] = AdminAction.objects.all()
    assert entry.action == "conversation.change"
    assert {"added", "deleted"} <= {key for part in entry.details["change"] for key in part}


def test_inline_refuses_what_the_services_would(operator, group, alice, bob):
    """Demoting the owner or adding a deactivated user is refused on the form; nothing changes."""
    ghost = User.objects.create_user(username="ghost", password="x", is_active=False)
    rows = [{**r, "role": MemberRole.MEMBER} if r["user"] == alice.pk else r for r in _rows(group)]
    response = operator.post(
        f"{CONVERSATIONS}{group.pk}/change/", _change_form(group, title="Plans", rows=rows)
    )
    assert response.status_code == 200
    assert "make another member the owner" in response.content.decode()
    rows = [*_rows(group), {"id": "", "user": ghost.pk, "role": MemberRole.MEMBER}]
    response = operator.post(
        f"{CONVERSATIONS}{group.pk}/change/", _change_form(group, title="Plans", rows=rows)
    )
    assert "Only an active user can be added." in response.content.decode()
    assert Membership.objects.get(conversation=group, user=alice).role == MemberRole.OWNER
    assert not AdminAction.objects.exists()


def test_membership_pages_add_promote_remove(
    operator, group, alice, bob, carol, django_capture_on_commit_callbacks
):
    """The membership pages: add (feeds learn it), make owner (the old owner becomes admin),
    delete (the member leaves); one audit entry each."""
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(f"{MEMBERSHIPS}add/", {"conversation": group.pk, "user": carol.pk, "role": "member"})
    carols = Membership.objects.get(conversation=group, user=carol)
    assert {"conversation_id": group.pk, "user_id": carol.pk} in entries_of(bob, "member.added")
    operator.post(f"{MEMBERSHIPS}{carols.pk}/change/", {"role": MemberRole.OWNER})
    assert Conversation.objects.get(pk=group.pk).owner_id == carol.pk
    assert Membership.objects.get(conversation=group, user=alice).role == MemberRole.ADMIN
    bobs = Membership.objects.get(conversation=group, user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(f"{MEMBERSHIPS}{bobs.pk}/delete/", {"post": "yes"})
    assert not Membership.objects.filter(pk=bobs.pk).exists()
    assert {"conversation_id": group.pk} in entries_of(bob, "conversation.left")
    assert [a.action for a in AdminAction.objects.order_by("id")] == [
        "membership.add",
        "membership.change",
        "membership.delete",
    ]


def test_direct_conversations_keep_their_members_and_title(operator, alice, bob, carol):
    """A direct conversation's title is read-only and its members cannot be changed here."""
    direct, _ = services.conversation_direct_open(user=alice, other_id=bob.pk)
    page = operator.get(f"{CONVERSATIONS}{direct.pk}/change/").content.decode()
    assert 'name="title"' not in page
    response = operator.post(
        f"{MEMBERSHIPS}add/", {"conversation": direct.pk, "user": carol.pk, "role": "member"}
    )
    assert "The members of a direct conversation do not change." in response.content.decode()
    assert Membership.objects.filter(conversation=direct).count() == 2
