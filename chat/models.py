"""Conversations and memberships in PostgreSQL; the messages themselves live in Cassandra.

A direct conversation stores its two users as `direct_low`/`direct_high` (smaller id first) under a
unique constraint, so a pair can never get two. A group has a title and an owner. Each member's
`last_read_message_id` and `last_delivered_message_id` are Snowflakes
(0: nothing read / delivered). `last_message_id`/`last_activity_at` on the
conversation order the conversation list and let unread counts skip conversations with nothing new.
An archived conversation (`archived_at`, set by an operator) keeps its history and refuses sends.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class ConversationKind(models.TextChoices):
    DIRECT = "direct", "Direct"
    GROUP = "group", "Group"


class MemberRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Conversation(models.Model):
    kind = models.CharField(max_length=8, choices=ConversationKind.choices)
    title = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    direct_low = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    direct_high = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_id = models.BigIntegerField(default=0)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    # set by an operator (the admin): the history stays readable, new messages are refused
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("direct_low", "direct_high"),
                condition=Q(kind=ConversationKind.DIRECT),
                name="chat_conversation_one_direct_per_pair",
            ),
            models.CheckConstraint(
                condition=(
                    Q(
                        kind=ConversationKind.DIRECT,
                        direct_low__isnull=False,
                        direct_high__isnull=False,
                        direct_low__lt=F("direct_high"),
                    )
                    | Q(kind=ConversationKind.GROUP, direct_low__isnull=True, direct_high__isnull=True)
                ),
                name="chat_conversation_kind_shape",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.pk}"


class Membership(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=8, choices=MemberRole.choices, default=MemberRole.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    last_read_message_id = models.BigIntegerField(default=0)
    # the newest message some device of the member acknowledged receiving (0: none)
    last_delivered_message_id = models.BigIntegerField(default=0)
    muted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("conversation", "user"), name="chat_membership_unique"),
        ]
        indexes = [models.Index(fields=("user", "conversation"))]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.conversation_id} ({self.role})"
