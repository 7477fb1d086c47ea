"""The audit log in the admin (read-only), and the base class of every admin that writes to it.

`AuditedModelAdmin` writes one `AdminAction` per form save (add, change) and per deleted object;
deletions go through `perform_delete`, which admins of rows with side effects (a membership, a
block, a login) override to call their service. Actions (archive, revoke, drain, …) record
their own entry with `audit`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.models import User
from audit.models import AdminAction
from audit.services import admin_action_record


def _operator(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the admin lets only authenticated staff in
    return user


def audit(
    request: HttpRequest,
    *,
    action: str,
    target_type: str,
    target_id: object,
    details: Mapping[str, Any] | None = None,
) -> AdminAction:
    """Record one admin action of the operator of `request`."""
    return admin_action_record(
        actor=_operator(request), action=action, target_type=target_type, target_id=target_id, details=details
    )


def _change_message(message: object) -> Any:
    """Django's change message (a list of {"added"|"changed"|"deleted": …}) as JSON data."""
    if isinstance(message, str):
        try:
            return json.loads(message) if message else []
        except ValueError:
            return message
    return message


class AuditedModelAdmin(admin.ModelAdmin):
    """A model admin whose saves and deletions each write one audit entry."""

    audit_target_type = ""  # e.g. "membership"

    def _audit_type(self) -> str:
        return self.audit_target_type or str(self.model._meta.model_name)

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        audit(
            request,
            action=f"{self._audit_type()}.add",
            target_type=self._audit_type(),
            target_id=obj.pk,
            details={"object": str(obj), "change": _change_message(message)},
        )
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        change = _change_message(message)
        if change:  # a save that changed nothing is no action
            audit(
                request,
                action=f"{self._audit_type()}.change",
                target_type=self._audit_type(),
                target_id=obj.pk,
                details={"object": str(obj), "change": change},
            )
        return entry

    def perform_delete(self, request: HttpRequest, obj: Any) -> None:
        """Delete one object (override to go through a service)."""
        super().delete_model(request, obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        target_id, description = obj.pk, str(obj)
        self.perform_delete(request, obj)
        audit(
            request,
            action=f"{self._audit_type()}.delete",
            target_type=self._audit_type(),
            target_id=target_id,
            details={"object": description},
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in list(queryset):
            self.delete_model(request, obj)


@admin.register(AdminAction)
class AdminActionAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_username", "action", "target_type", "target_id")
    list_filter = ("action", "target_type", "at")
    search_fields = ("actor_username", "action", "target_type", "target_id")
    fields = readonly_fields = (
        "at",
        "actor",
        "actor_username",
        "action",
        "target_type",
        "target_id",
        "details",
    )
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
