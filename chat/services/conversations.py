"""Writes on conversations: direct and group creation, renames, mute, membership, and the
block state of a direct conversation. Each change enters the members' change feeds after its
transaction commits (`chat.feed`), and chat servers forget their cached send rules of it.

The `conversation_moderate_*` actions are an operator's (the admin): the same changes and feed
entries without a member's checks, and archiving."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.exceptions import UserBlocked
from accounts.models import User
from accounts.selectors import user_blocked_between
from chat.domain.errors import (
    GroupFull,
    NotAGroup,
    NotGroupAdmin,
    OwnerCannotBeRemoved,
    UserNotFound,
)
from chat.domain.snowflake import MAX_ID
from chat.fanout import send_rules_changed
from chat.feed import feed_change_send, feed_change_send_on_commit
from chat.models import Conversation, ConversationKind, MemberRole, Membership
from chat.protocol import conversation_fields
from chat.selectors import conversation_member_ids, membership_get
from chatproject.errors import ValidationFailed


def _send_rules_changed(conversation_id: int) -> None:
    """After the transaction commits: chat servers evict their cached send rules of it."""
    transaction.on_commit(lambda: send_rules_changed(conversation_ids=[conversation_id]))


def _conversation_announce(
    *, conversation: Conversation, kind: str, member_ids: list[int], to: list[int]
) -> None:
    """After the commit: `conversation.created` / `conversation.joined` in the feeds of `to`."""
    feed_change_send_on_commit(
        kind=kind,
        conversation_id=conversation.pk,
        fields=conversation_fields(
            conversation_id=conversation.pk,
            kind=conversation.kind,
            title=conversation.title,
            member_ids=member_ids,
        ),
        user_ids=to,
    )


def conversation_direct_open(*, user: User, other_id: int) -> tuple[Conversation, bool]:
    """The direct conversation of `user` and `other_id`, created if needed; (conversation, created)."""
    if other_id == user.pk:
        raise ValidationFailed(fields={"user_id": ["You cannot open a conversation with yourself."]})
    if not 0 < other_id <= MAX_ID or not User.objects.filter(pk=other_id, is_active=True).exists():
        raise UserNotFound()
    if user_blocked_between(user_id=user.pk, other_id=other_id):
        raise UserBlocked()
    low, high = sorted((user.pk, other_id))
    lookup = {"kind": ConversationKind.DIRECT, "direct_low_id": low, "direct_high_id": high}
    existing = Conversation.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(**lookup)
            Membership.objects.bulk_create(
                [Membership(conversation=conversation, user_id=uid) for uid in (low, high)]
            )
            _send_rules_changed(conversation.pk)
            _conversation_announce(
                conversation=conversation, kind="conversation.created", member_ids=[low, high], to=[low, high]
            )
    except IntegrityError:
        # both opened it at once: the unique constraint kept one, which is the answer for both
        return Conversation.objects.get(**lookup), False
    return conversation, True


def direct_block_announce(*, blocker_id: int, other_id: int) -> None:
    """A block between the two was made or lifted: `conversation.updated` with `blocked` in the
    blocker's feed, if they have a direct conversation."""
    low, high = sorted((blocker_id, other_id))
    conversation = Conversation.objects.filter(
        kind=ConversationKind.DIRECT, direct_low_id=low, direct_high_id=high
    ).first()
    if conversation is not None:
        feed_change_send(
            kind="conversation.updated",
            conversation_id=conversation.pk,
            fields={
                "conversation_id": conversation.pk,
                "title": "",
                "blocked": user_blocked_between(user_id=blocker_id, other_id=other_id),
            },
            user_ids=[blocker_id],
        )


def _users_for_group(*, actor_id: int, user_ids: set[int]) -> list[int]:
    found = set(User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))
    missing = sorted(user_ids - found)
    if missing:
        raise ValidationFailed(fields={"member_ids": [f"No such users: {missing}."]})
    for uid in sorted(found):
        if user_blocked_between(user_id=actor_id, other_id=uid):
            raise UserBlocked()
    return sorted(found)


@transaction.atomic
def conversation_group_create(*, owner: User, title: str, member_ids: Sequence[int]) -> Conversation:
    """A new group owned by `owner` with the given members (the owner is always one)."""
    title = title.strip()
    if not title:
        raise ValidationFailed(fields={"title": ["A group needs a title."]})
    others = {uid for uid in member_ids if uid != owner.pk}
    if len(others) + 1 > settings.CHAT_GROUP_MAX_MEMBERS:
        raise ValidationFailed(
            fields={"member_ids": [f"A group has at most {settings.CHAT_GROUP_MAX_MEMBERS} members."]}
        )
    if any(not 0 < uid <= MAX_ID for uid in others):
        raise ValidationFailed(fields={"member_ids": ["Not a user id."]})
    users = _users_for_group(actor_id=owner.pk, user_ids=others)
    conversation = Conversation.objects.create(kind=ConversationKind.GROUP, title=title, owner=owner)
    Membership.objects.bulk_create(
        [Membership(conversation=conversation, user=owner, role=MemberRole.OWNER)]
        + [Membership(conversation=conversation, user_id=uid) for uid in users]
    )
    _send_rules_changed(conversation.pk)
    members = [owner.pk, *users]
    _conversation_announce(
        conversation=conversation, kind="conversation.created", member_ids=members, to=members
    )
    return conversation


def conversation_update(
    *, user_id: int, conversation_id: int, muted: bool | None = None, title: str | None = None
) -> Membership:
    """Change my mute flag, or (owner and admins of a group) the title."""
    membership = membership_get(user_id=user_id, conversation_id=conversation_id)
    if title is not None:
        conversation = membership.conversation
        if conversation.kind != ConversationKind.GROUP:
            raise NotAGroup("Only a group has a title.")
        if membership.role not in (MemberRole.OWNER, MemberRole.ADMIN):
            raise NotGroupAdmin("Only the owner or an admin may rename the group.")
        _title_set(conversation, title)
    if muted is not None:
        membership.muted = muted
        membership.save(update_fields=["muted"])
    return membership


def _title_set(conversation: Conversation, title: str) -> None:
    """A group's new title; `conversation.updated` in every member's feed after the commit."""
    if not title.strip():
        raise ValidationFailed(fields={"title": ["A group needs a title."]})
    conversation.title = title.strip()
    conversation.save(update_fields=["title"])
    feed_change_send_on_commit(
        kind="conversation.updated",
        conversation_id=conversation.pk,
        fields={"conversation_id": conversation.pk, "title": conversation.title, "blocked": False},
        user_ids=conversation_member_ids(conversation_id=conversation.pk),
    )


def conversation_member_add(*, actor_id: int, conversation_id: int, user_id: int) -> tuple[Membership, bool]:
    """Add a user to a group (any member may); (membership, created). Adding a member again is a no-op."""
    with transaction.atomic():
        membership_get(user_id=actor_id, conversation_id=conversation_id)
        return _member_add(conversation_id=conversation_id, user_id=user_id, actor_id=actor_id)


def _member_add(*, conversation_id: int, user_id: int, actor_id: int | None) -> tuple[Membership, bool]:
    """Add a user to a group (in a transaction); a block between them and `actor_id` refuses it."""
    # the row lock makes the member-limit check hold under concurrent adds
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if conversation.kind != ConversationKind.GROUP:
        raise NotAGroup()
    existing = Membership.objects.filter(conversation=conversation, user_id=user_id).first()
    if existing is not None:
        return existing, False
    if not 0 < user_id <= MAX_ID or not User.objects.filter(pk=user_id, is_active=True).exists():
        raise UserNotFound()
    if actor_id is not None and user_blocked_between(user_id=actor_id, other_id=user_id):
        raise UserBlocked()
    if conversation.memberships.count() >= settings.CHAT_GROUP_MAX_MEMBERS:
        raise GroupFull()
    membership = Membership.objects.create(conversation=conversation, user_id=user_id)
    _send_rules_changed(conversation_id)
    members = conversation_member_ids(conversation_id=conversation_id)
    feed_change_send_on_commit(
        kind="member.added",
        conversation_id=conversation_id,
        fields={"conversation_id": conversation_id, "user_id": user_id},
        user_ids=members - {user_id},
    )
    _conversation_announce(
        conversation=conversation, kind="conversation.joined", member_ids=sorted(members), to=[user_id]
    )
    return membership, True


@transaction.atomic
def conversation_member_remove(*, actor_id: int, conversation_id: int, user_id: int) -> None:
    """Leave a group, or (owner and admins) remove another member. A leaving owner hands over."""
    actor = membership_get(user_id=actor_id, conversation_id=conversation_id)
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if conversation.kind != ConversationKind.GROUP:
        raise NotAGroup()
    target = Membership.objects.filter(conversation=conversation, user_id=user_id).first()
    if target is None:
        raise UserNotFound("That user is not a member.")
    if actor_id != user_id:
        if actor.role not in (MemberRole.OWNER, MemberRole.ADMIN):
            raise NotGroupAdmin()
        if target.role == MemberRole.OWNER:
            raise OwnerCannotBeRemoved()
    _member_remove(conversation, target)


def _member_remove(conversation: Conversation, target: Membership) -> None:
    """Remove a member (in a transaction); the feed entries follow the commit; an owner hands over."""
    conversation_id, user_id = conversation.pk, target.user_id
    target.delete()
    _send_rules_changed(conversation_id)
    feed_change_send_on_commit(
        kind="member.removed",
        conversation_id=conversation_id,
        fields={"conversation_id": conversation_id, "user_id": user_id},
        user_ids=conversation_member_ids(conversation_id=conversation_id),
    )
    feed_change_send_on_commit(
        kind="conversation.left",
        conversation_id=conversation_id,
        fields={"conversation_id": conversation_id},
        user_ids=[user_id],
    )
    if target.role == MemberRole.OWNER:
        # an admin first, then the longest-standing member
        heir = (
            Membership.objects.filter(conversation=conversation)
            .order_by(Case(When(role=MemberRole.ADMIN, then=Value(0)), default=Value(1)), "joined_at", "id")
            .first()
        )
        if heir is not None:
            heir.role = MemberRole.OWNER
            heir.save(update_fields=["role"])
        conversation.owner_id = heir.user_id if heir is not None else None
        conversation.save(update_fields=["owner"])


# ---------------------------------------------------------------- an operator's (the admin)


def _group_locked(conversation_id: int) -> Conversation:
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if conversation.kind != ConversationKind.GROUP:
        raise NotAGroup()
    return conversation


@transaction.atomic
def conversation_moderate_rename(*, conversation_id: int, title: str) -> Conversation:
    """Rename a group as an operator: the members' feeds get the same entry as a member's rename."""
    conversation = _group_locked(conversation_id)
    if title.strip() != conversation.title:
        _title_set(conversation, title)
    return conversation


@transaction.atomic
def conversation_moderate_archive(*, conversation_id: int, archived: bool) -> Conversation:
    """Archive a conversation (its history stays readable, sends are refused) or restore it.
    Chat servers forget their send rules of it; members' feeds get `conversation.updated` with
    `archived`. Archiving an archived conversation changes nothing."""
    conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
    if (conversation.archived_at is not None) == archived:
        return conversation
    conversation.archived_at = timezone.now() if archived else None
    conversation.save(update_fields=["archived_at"])
    _send_rules_changed(conversation_id)
    blocked = conversation.kind == ConversationKind.DIRECT and user_blocked_between(
        user_id=conversation.direct_low_id or 0, other_id=conversation.direct_high_id or 0
    )
    feed_change_send_on_commit(
        kind="conversation.updated",
        conversation_id=conversation_id,
        fields={
            "conversation_id": conversation_id,
            "title": conversation.title,
            "blocked": blocked,
            "archived": archived,
        },
        user_ids=conversation_member_ids(conversation_id=conversation_id),
    )
    return conversation


@transaction.atomic
def conversation_moderate_member_add(*, conversation_id: int, user_id: int) -> tuple[Membership, bool]:
    """Add a user to a group as an operator (no member's check, the same entries)."""
    return _member_add(conversation_id=conversation_id, user_id=user_id, actor_id=None)


@transaction.atomic
def conversation_moderate_member_remove(*, conversation_id: int, user_id: int) -> None:
    """Remove a member of a group as an operator, the owner too (an heir takes over)."""
    conversation = _group_locked(conversation_id)
    target = Membership.objects.filter(conversation=conversation, user_id=user_id).first()
    if target is None:
        raise UserNotFound("That user is not a member.")
    _member_remove(conversation, target)


@transaction.atomic
def conversation_moderate_role_set(*, conversation_id: int, user_id: int, role: str) -> Membership:
    """Give a member of a group another role. A new owner takes over from the old one, who becomes
    an admin; the owner is not demoted otherwise (make someone else the owner instead)."""
    conversation = _group_locked(conversation_id)
    target = Membership.objects.filter(conversation=conversation, user_id=user_id).first()
    if target is None:
        raise UserNotFound("That user is not a member.")
    if role not in MemberRole.values:
        raise ValidationFailed(fields={"role": [f"One of {', '.join(MemberRole.values)}."]})
    if role == target.role:
        return target
    if target.role == MemberRole.OWNER:
        raise ValidationFailed(fields={"role": ["Make another member the owner instead."]})
    if role == MemberRole.OWNER:
        Membership.objects.filter(conversation=conversation, role=MemberRole.OWNER).update(
            role=MemberRole.ADMIN
        )
        conversation.owner_id = user_id
        conversation.save(update_fields=["owner"])
    target.role = role
    target.save(update_fields=["role"])
    return target
