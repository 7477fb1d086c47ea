"""Records that cross process boundaries on the message sync queue: where a message came from (its
origin, which gets the acknowledgement) and one entry of a sync task's batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat.domain.records import PendingMessage


@dataclass(frozen=True)
class Origin:
    """Where the acknowledgement of a message goes."""

    server_id: str | None = None  # chat server of the sending device's socket
    conn_id: str | None = None
    reply_key: str | None = None  # REST: the API server waits on this key

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("s", self.server_id), ("c", self.conn_id), ("r", self.reply_key)) if v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Origin:
        return cls(server_id=data.get("s"), conn_id=data.get("c"), reply_key=data.get("r"))


def sync_item(*, pending: PendingMessage, origin: Origin) -> dict[str, Any]:
    """One entry of a sync task's batch (JSON)."""
    return {"m": pending.as_dict(), "o": origin.as_dict()}
