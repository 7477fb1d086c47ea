"""Delivery on a chat server: the subscription to this server's delivery channel, and each batch
of delivery events written to the local sockets it names.

Sync workers (and other chat servers, for typing and read events) publish batches of
already-serialised frames on the channel (`chat.domain.events`); nothing here builds a frame but
one: when the subscription was lost (what was published meanwhile is gone), the server, once
subscribed again, sends `live.gap` to every socket so that its client syncs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from chat.domain.events import (
    BatchDone,
    DeliveryEvent,
    DeviceSocketsClose,
    FrameToSocket,
    FrameToUsers,
    SendRulesStale,
    ServerDrain,
    SocketClose,
    deliveries_decode,
)
from chat.domain.hops import hops_mark
from chat.protocol import frame_text, live_gap_frame
from chat.selectors import send_rules_forget
from chat.server.metrics import DELIVERY_BATCH_SIZE, counts
from chat.store.redis import keys as redis_keys
from chat.store.redis.hops import hops_record
from chatproject.redis_client import async_redis_named, get_async_redis

if TYPE_CHECKING:
    from chat.server.runtime import ChatServerRuntime

log = logging.getLogger(__name__)
hops_log = logging.getLogger("chat.hops")


def delivery_client_name(server_id: str) -> str:
    """The name of a chat server's delivery subscription in Redis's CLIENT LIST."""
    return f"chat-delivery:{server_id}"


async def deliver(runtime: ChatServerRuntime, events: list[DeliveryEvent]) -> None:
    """Write a batch of delivery events to the local sockets they name, in order."""
    sampled: list[dict[str, Any]] = []
    delivered = 0
    for event in events:
        match event:
            case FrameToUsers(user_ids=user_ids, text=text, skip_conn=skip, hops=hops):
                written = 0
                for user_id in user_ids:
                    for conn_id in list(runtime.by_user.get(user_id, ())):
                        if conn_id != skip and (conn := runtime.connections.get(conn_id)) is not None:
                            await runtime.send(conn, text)
                            written += 1
                delivered += written
                if hops is not None and written:
                    hops_mark(hops, "delivered")
                    sampled.append({"id": _message_id(text), "server": runtime.server_id, "hops": hops})
            case FrameToSocket(conn_id=conn_id, text=text):
                if (conn := runtime.connections.get(conn_id)) is not None:
                    await runtime.send(conn, text)
                    delivered += 1
            case BatchDone(batch_id=batch_id):
                runtime.batcher.done(batch_id)
            case SendRulesStale(conversation_ids=conversation_ids):
                send_rules_forget(conversation_ids=conversation_ids)
            case SocketClose(conn_id=conn_id, code=code):
                if (conn := runtime.connections.get(conn_id)) is not None:
                    await runtime.close(conn, code)
            case DeviceSocketsClose():
                await runtime.close_devices(event)
            case ServerDrain():
                runtime.request_drain()
    counts.deliveries += delivered
    if sampled:
        await _hops_record(sampled)


async def delivery_loop(runtime: ChatServerRuntime, subscribed: asyncio.Event) -> None:
    """Subscribe to this server's delivery channel (`subscribed` is set once it is) and deliver
    every batch published on it; subscribe again whenever Redis goes away."""
    gap = False  # a subscription was lost: what was published meanwhile never reached the sockets
    while True:
        # a connection of its own, named: an operator (or a test) finds it in CLIENT LIST
        client = async_redis_named(delivery_client_name(runtime.server_id))
        channel = redis_keys.delivery_channel(client, runtime.server_id)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            subscribed.set()
            if gap:
                # every socket syncs now: the sync brings what the lost deliveries carried, and
                # it comes after this frame, before anything published from now on
                await _live_gap_tell(runtime)
                gap = False
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                try:
                    events = deliveries_decode(message["data"])
                except (ValueError, TypeError):
                    log.error("chat server %s: undecodable delivery batch", runtime.server_id)
                    continue
                DELIVERY_BATCH_SIZE.observe(len(events))
                await deliver(runtime, events)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()
            raise
        except Exception:
            # Redis went away: deliveries published meanwhile are lost; subscribe again after a
            # short pause, then tell the sockets to sync (`live.gap`)
            gap = True
            log.warning("chat server %s: delivery subscription lost", runtime.server_id, exc_info=True)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await client.aclose()
            await asyncio.sleep(0.5)


async def _live_gap_tell(runtime: ChatServerRuntime) -> None:
    notice = frame_text(live_gap_frame())
    sockets = list(runtime.connections.values())
    for conn in sockets:
        await runtime.send(conn, notice)
    log.info(
        "chat server %s: delivery subscription back, %d sockets told to sync", runtime.server_id, len(sockets)
    )


async def _hops_record(sampled: list[dict[str, Any]]) -> None:
    for sample in sampled:
        hops_log.debug("%s", sample)
    with contextlib.suppress(Exception):  # a lost sample is no loss
        await hops_record(get_async_redis(), sampled)


def _message_id(text: str) -> int | None:
    """The ID of the message a `message.new` frame carries (for a hop sample)."""
    try:
        return int(orjson.loads(text)["message"]["id"])
    except (ValueError, KeyError, TypeError):
        return None
