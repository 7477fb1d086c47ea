"""The shape of a user's presence wherever it leaves the service: the `presence` frame, GET
presence, and the `presence` of conversation members and friends in REST payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

from presence.redis_keys import PresenceState


def presence_fields(state: PresenceState) -> dict[str, object]:
    """`status` and `last_active_at` (ISO time, or null if never seen)."""
    last = state.last_active_at
    return {
        "status": state.status,
        "last_active_at": datetime.fromtimestamp(last, tz=UTC).isoformat().replace("+00:00", "Z")
        if last
        else None,
    }


class PresenceFieldsDoc(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["online", "away", "offline"])
    last_active_at = serializers.DateTimeField(
        allow_null=True, help_text="the last time a device of the user was active; null if never"
    )
