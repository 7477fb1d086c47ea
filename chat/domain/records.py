"""Plain, typed values that cross the layers of the message path.

`PendingMessage` is what `check_message_send_blocking` validated and numbered: it is JSON-serialisable
(`as_dict`/`from_dict`) so the sync queue can carry it between processes. `StoredMessage` is a
message as the store returns it; `StoredResult` says which message a persist actually stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chat.domain.snowflake import snowflake_timestamp_ms


def snowflake_datetime(snowflake_id: int) -> datetime:
    """The creation time of a Snowflake ID as an aware UTC datetime."""
    return datetime.fromtimestamp(snowflake_timestamp_ms(snowflake_id) / 1000, tz=UTC)


@dataclass(frozen=True)
class PendingMessage:
    """A validated message with its ID, not yet stored.

    `recipient_ids` are every member at send time (the sender included: their other devices sync
    it); `mentions` are the members named with `@username`, in order of appearance.
    """

    id: int
    conversation_id: int
    sender_id: int
    client_msg_id: str
    body: str
    mentions: tuple[int, ...] = ()
    recipient_ids: tuple[int, ...] = ()

    @property
    def created_at(self) -> datetime:
        return snowflake_datetime(self.id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "sender_id": self.sender_id,
            "client_msg_id": self.client_msg_id,
            "body": self.body,
            "mentions": list(self.mentions),
            "recipient_ids": list(self.recipient_ids),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingMessage:
        """Inverse of `as_dict` (`created_at` is derived from the ID, so it is not read)."""
        return cls(
            id=int(data["id"]),
            conversation_id=int(data["conversation_id"]),
            sender_id=int(data["sender_id"]),
            client_msg_id=str(data["client_msg_id"]),
            body=str(data["body"]),
            mentions=tuple(int(m) for m in data.get("mentions", ())),
            recipient_ids=tuple(int(r) for r in data.get("recipient_ids", ())),
        )


@dataclass(frozen=True)
class StoredMessage:
    """A message read from (or just written to) Cassandra. A tombstone has `deleted` and no body."""

    id: int
    conversation_id: int
    sender_id: int
    client_msg_id: str
    body: str
    mentions: tuple[int, ...] = ()
    edited_at: datetime | None = None
    deleted: bool = False
    # known only when read from the conversation table; inbox and mention rows do not carry it
    recipient_ids: tuple[int, ...] = field(default=(), compare=False)

    @property
    def created_at(self) -> datetime:
        return snowflake_datetime(self.id)


@dataclass(frozen=True)
class StoredResult:
    """The outcome of persisting one PendingMessage.

    `message` is what is stored under its (sender, client_msg_id): the input itself, or an earlier
    message with the same client_msg_id (then `duplicate` is True and `message.id` differs from
    the pending ID whenever the earlier one was numbered separately).
    """

    pending_id: int
    message: StoredMessage
    duplicate: bool


@dataclass(frozen=True)
class MessagePage:
    """A page of messages in the order the query defines, and whether the query has more."""

    messages: list[StoredMessage]
    has_more: bool


@dataclass(frozen=True)
class AroundPage:
    """Messages around an anchor, newest first, and whether each side has more."""

    messages: list[StoredMessage]
    has_more_before: bool
    has_more_after: bool


def pending_as_stored(pending: PendingMessage) -> StoredMessage:
    return StoredMessage(
        id=pending.id,
        conversation_id=pending.conversation_id,
        sender_id=pending.sender_id,
        client_msg_id=pending.client_msg_id,
        body=pending.body,
        mentions=pending.mentions,
        recipient_ids=pending.recipient_ids,
    )


@dataclass(frozen=True)
class FeedChange:
    """An entry of users' change feeds other than a new message (docs/protocol.md, "The change
    feed"): its frame `type` (`kind`), its Snowflake `feed_id`, the conversation it is about, and
    the frame's other fields. One change goes to several users' feeds with one `feed_id`."""

    feed_id: int
    kind: str
    conversation_id: int
    fields: dict[str, Any] = field(default_factory=dict, compare=False)


FeedEntry = StoredMessage | FeedChange  # a new message's entry is the message itself


@dataclass(frozen=True)
class FeedPage:
    """Feed entries in `feed_id` order (a message's is its ID), and whether more follow."""

    entries: list[FeedEntry]
    has_more: bool


def feed_id_of(entry: FeedEntry) -> int:
    return entry.id if isinstance(entry, StoredMessage) else entry.feed_id
