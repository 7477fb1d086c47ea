"""The audit log of the admin: who did what to which target, when, with the details.

Why not Django's `LogEntry`: it records only additions, changes and deletions of model rows,
keyed by a content type and a primary key, with a text change message. Half of what an operator
does here has no row: draining a chat server (a Redis registry entry), deleting a message (a
Cassandra row), revoking a login or archiving a conversation (actions, not form saves). One
model with a free target type and JSON details holds all of them, so the log is read in one
place; the admins write it for their form saves too (`audit.admin.AuditedModelAdmin`). Django's
`LogEntry` rows are still written as usual (the admin's "history" pages keep working).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AdminAction(models.Model):
    # the operator; their name is kept too, so the entry still says who after the user is deleted
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)  # e.g. "conversation.archive"
    target_type = models.CharField(max_length=64)  # e.g. "conversation", "message", "chat_server"
    target_id = models.CharField(max_length=128)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        # the admin pages that are not a model's (chat/admin/): who may use them
        permissions = [
            ("drain_chat_server", "Can drain a chat server"),
            ("moderate_message", "Can find and delete any message"),
        ]
        indexes = [models.Index(fields=("target_type", "target_id"))]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.target_type}:{self.target_id}"
