"""Writing the audit log (`audit.models.AdminAction`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import User
from audit.models import AdminAction


def admin_action_record(
    *, actor: User, action: str, target_type: str, target_id: object, details: Mapping[str, Any] | None = None
) -> AdminAction:
    """One entry of the audit log: `actor` did `action` to `target_type` `target_id`."""
    return AdminAction.objects.create(
        actor=actor,
        actor_username=actor.get_username(),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=dict(details or {}),
    )
