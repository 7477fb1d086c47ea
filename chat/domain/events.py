"""Records that cross process boundaries, each with one encoder and one decoder.

- On the message sync queue (chat server or API server → worker): `SyncItem` (a numbered message
  and its `Origin`, where the acknowledgement goes) and `SyncBatch` (the sending window's slot).
- On a chat server's delivery channel (worker, API servers, chat servers → that chat server): the
  `DeliveryEvent`s, encoded in batches by `deliveries_encode`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from chat.domain.hops import Hops
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


@dataclass(frozen=True, slots=True)
class SyncItem:
    """One message of a sync task's batch, with the origin its acknowledgement goes to, and the
    stopwatch of a sampled message (`chat.domain.hops`)."""

    pending: PendingMessage
    origin: Origin
    hops: Hops | None = None

    def encode(self) -> dict[str, Any]:
        data = {"m": self.pending.as_dict(), "o": self.origin.as_dict()}
        if self.hops is not None:
            data["h"] = self.hops
        return data

    @classmethod
    def decode(cls, data: dict[str, Any]) -> SyncItem:
        return cls(
            pending=PendingMessage.from_dict(data["m"]),
            origin=Origin.from_dict(data.get("o") or {}),
            hops=data.get("h"),
        )


def sync_item(*, pending: PendingMessage, origin: Origin, hops: Hops | None = None) -> dict[str, Any]:
    """One entry of a sync task's batch, encoded (Celery carries JSON)."""
    return SyncItem(pending=pending, origin=origin, hops=hops).encode()


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """The chat server and sending-window slot of a sync task, told when the batch is done."""

    server_id: str
    batch_id: str

    def encode(self) -> dict[str, str]:
        return {"s": self.server_id, "b": self.batch_id}

    @classmethod
    def decode(cls, data: dict[str, Any] | None) -> SyncBatch | None:
        if not data or not data.get("s") or not data.get("b"):
            return None
        return cls(server_id=str(data["s"]), batch_id=str(data["b"]))


# ---------------------------------------------------------------- delivery events
# What a chat server's delivery channel carries: published by the worker, the API servers and
# other chat servers, read by `chat.server.delivery.deliver`. A batch is one JSON array; each event
# is an object whose "k" names its kind.


@dataclass(frozen=True, slots=True)
class FrameToUsers:
    """A server frame (already JSON) for every local socket of these users, less `skip_conn`
    (the sending socket, which gets the ack instead); `hops`: the stopwatch of a sampled message."""

    KIND: ClassVar[str] = "users"
    user_ids: list[int]
    text: str
    skip_conn: str | None = None
    hops: Hops | None = None


@dataclass(frozen=True, slots=True)
class FrameToSocket:
    """A server frame for one socket (a `message.ack` to the sending device)."""

    KIND: ClassVar[str] = "conn"
    conn_id: str
    text: str


@dataclass(frozen=True, slots=True)
class BatchDone:
    """A sync batch of this chat server is stored, routed and acknowledged: its slot frees."""

    KIND: ClassVar[str] = "done"
    batch_id: str


@dataclass(frozen=True, slots=True)
class SendRulesStale:
    """Members or blocks changed: forget the cached send rules of these conversations (None: all)."""

    KIND: ClassVar[str] = "rules"
    conversation_ids: list[int] | None


@dataclass(frozen=True, slots=True)
class SocketClose:
    """Close one socket with `code` (one socket too many for its user)."""

    KIND: ClassVar[str] = "close_conn"
    conn_id: str
    code: int


@dataclass(frozen=True, slots=True)
class DeviceSocketsClose:
    """Device logins ended: close the user's sockets of `device_ids` (None: every device but
    `except_device`)."""

    KIND: ClassVar[str] = "close_devices"
    user_id: int
    device_ids: list[str] | None
    except_device: str | None


@dataclass(frozen=True, slots=True)
class ServerDrain:
    """An operator asked this chat server to drain (the admin): the same drain as on SIGTERM."""

    KIND: ClassVar[str] = "drain"


DeliveryEvent = (
    FrameToUsers | FrameToSocket | BatchDone | SendRulesStale | SocketClose | DeviceSocketsClose | ServerDrain
)

_KINDS: dict[str, type[DeliveryEvent]] = {
    cls.KIND: cls
    for cls in (
        FrameToUsers,
        FrameToSocket,
        BatchDone,
        SendRulesStale,
        SocketClose,
        DeviceSocketsClose,
        ServerDrain,
    )
}
_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f.name for f in fields(cls)) for kind, cls in _KINDS.items()
}


def deliveries_encode(events: Sequence[DeliveryEvent]) -> bytes:
    """A batch of delivery events as the delivery channel carries it."""
    return orjson.dumps(
        [{"k": e.KIND, **{name: getattr(e, name) for name in _FIELDS[e.KIND]}} for e in events]
    )


def deliveries_decode(data: bytes | str) -> list[DeliveryEvent]:
    """The events of a published batch; raises ValueError when it is not one."""
    events: list[DeliveryEvent] = []
    for raw in orjson.loads(data):
        kind = raw.pop("k", None)
        cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ValueError(f"unknown delivery event {kind!r}")
        events.append(cls(**raw))
    return events
