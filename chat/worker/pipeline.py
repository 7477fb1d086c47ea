"""The message sync queue's work (design note §4.2): store, then route.

A sync task carries a batch of `PendingMessage`s, each with its **origin** (the chat server and
connection of the sending device, or the reply key of a REST request). `do_send_messages`:

1. gives a fresh ID to any message whose ID is older than CHAT_LATE_ID_SECONDS — nobody has been
   told its ID yet (the ack comes after storage), and so no device can have synced past a message
   stored later with a smaller ID than the window a sync looks back (DESIGN.md §4);
2. stores the batch in the message store (idempotent; a resend of a stored (sender,
   client_msg_id) returns the first), reading the members' routes while Cassandra writes;
3. routes each new message: members with a live device get `message.new` through the chat
   servers that hold them (one publish per chat server per batch, from the Redis routing table);
   members with none go to the `push` queue (its task message in the same Redis round trip);
4. acknowledges each message to its origin (`message.ack`, or the REST reply), only now that it
   is stored, and tells the sending chat server the batch is done (its sending window);
5. moves the conversations' newest message and the senders' read markers along in PostgreSQL
   (before the REST replies).

When the message store cannot store the batch at the configured consistency (too few Cassandra
replicas up: `MessageStoreUnavailable`), the task raises and Celery tries again; the last of
CHAT_STORE_ATTEMPTS attempts instead refuses the batch (`do_send_refuse`): each origin gets an
`unavailable` error (its outbox resends later with the same client_msg_id), nothing is
acknowledged, and the sending chat server's slot is freed.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import redis
from celery import current_app
from django.conf import settings

from chat.domain.errors import MessageStoreUnavailable, StoreUnavailable
from chat.domain.events import BatchDone, DeliveryEvent, FrameToSocket, FrameToUsers, SyncBatch, SyncItem
from chat.domain.hops import Hops, hops_mark
from chat.domain.records import PendingMessage, StoredMessage
from chat.domain.snowflake import snowflake_min_for_time, snowflake_next_id, snowflake_timestamp_ms
from chat.fanout import users_by_server
from chat.feed import feed_late_messages_write
from chat.protocol import frame_text, message_ack_frame, message_new_frame, message_payload
from chat.services import conversations_touch
from chat.store.cassandra.message_store import messages_write_start
from chat.store.redis import claims
from chat.store.redis import keys as redis_keys
from chat.sync_queue import task_envelope
from chat.worker.metrics import (
    MESSAGES_DUPLICATE,
    MESSAGES_RENUMBERED,
    MESSAGES_STORED,
    PUBLISH_SECONDS,
    PUSH_HANDOFFS,
    STORE_SECONDS,
    SYNC_BATCH_ERRORS,
    SYNC_BATCH_SECONDS,
    SYNC_BATCH_SIZE,
)
from chatproject.logs import log_context
from chatproject.redis_client import get_redis
from notifications.tasks import notify_offline_members

log = logging.getLogger(__name__)

PUSH_QUEUE = "push"
REPLY_TTL = 60  # seconds a REST reply waits in Redis for its API server
LIVE_SERVERS_CACHE_SECONDS = 1.0

_live_servers_cache: tuple[float, set[str]] = (0.0, set())


def _live_servers(client: redis.Redis, wanted: set[str]) -> set[str]:
    """The live chat servers, read from the registry at most once a second, and at once when a
    route names a server not known to be live (a server that just started). A server that died
    stays in the answer for at most that second; its entry in the registry outlives it longer."""
    global _live_servers_cache
    expires, live = _live_servers_cache
    if time.monotonic() > expires or not wanted <= live:
        live = {entry.id for entry in redis_keys.servers_live(client)}
        _live_servers_cache = (time.monotonic() + LIVE_SERVERS_CACHE_SECONDS, live)
    return live


def _renumber_late(pending: PendingMessage, *, now_ms: int) -> PendingMessage:
    if now_ms - snowflake_timestamp_ms(pending.id) > settings.CHAT_LATE_ID_SECONDS * 1000:
        fresh = snowflake_next_id()
        MESSAGES_RENUMBERED.inc()
        log.info(
            "message %s reached storage late: renumbered %s",
            pending.id,
            fresh,
            extra={"message_id": pending.id, "client_msg_id": pending.client_msg_id},
        )
        return replace(pending, id=fresh)
    return pending


def push_task(kwargs: dict[str, Any]) -> tuple[str, bytes]:
    """The push queue's task for offline members, as a message for the publish's pipeline."""
    return PUSH_QUEUE, task_envelope(notify_offline_members.name, kwargs, queue=PUSH_QUEUE)


def _hops_mark_all(sampled: list[Hops], hop: str) -> None:
    for hops in sampled:
        hops_mark(hops, hop)


def do_send_messages(
    *, items: list[dict[str, Any]], batch: dict[str, str] | None = None, last_attempt: bool = False
) -> list[StoredMessage]:
    """Store a batch from the sync queue, deliver it, acknowledge it; returns what is stored.

    `items` are encoded `SyncItem`s; `batch` an encoded `SyncBatch`: after the acks, that chat
    server is told the batch is done, which frees its slot in the server's sending window.
    Raises MessageStoreUnavailable when the store cannot take the batch, unless `last_attempt`:
    then the batch is refused (`do_send_refuse`) and nothing is returned.

    Its log lines carry the batch's id and its messages' IDs (`chatproject.logs`).
    """
    started = time.perf_counter()
    decoded = [SyncItem.decode(item) for item in items]
    with log_context(batch_id=(batch or {}).get("b"), message_ids=[item.pending.id for item in decoded]):
        try:
            stored = _batch_store_route_ack(decoded=decoded, batch=batch)
        except MessageStoreUnavailable as exc:
            SYNC_BATCH_ERRORS.inc()
            if not exc.nothing_written:  # a timeout: rows may be written, the claims must stay
                claims.message_claims_mark_perhaps_written(get_redis(), [item.pending for item in decoded])
            if not last_attempt:
                log.warning("the message store cannot take %d messages (the task is retried)", len(decoded))
                raise
            do_send_refuse(decoded=decoded, batch=batch, nothing_written=exc.nothing_written)
            return []
        except Exception:
            SYNC_BATCH_ERRORS.inc()
            log.warning("sync batch of %d messages failed (the task is retried)", len(decoded), exc_info=True)
            raise
    SYNC_BATCH_SIZE.observe(len(decoded))
    SYNC_BATCH_SECONDS.observe(time.perf_counter() - started)
    return stored


def _batch_store_route_ack(*, decoded: list[SyncItem], batch: dict[str, str] | None) -> list[StoredMessage]:
    now_ms = int(time.time() * 1000)
    sampled = [item.hops for item in decoded if item.hops is not None]
    _hops_mark_all(sampled, "task_start")
    pending = [_renumber_late(item.pending, now_ms=now_ms) for item in decoded]
    origins = [item.origin for item in decoded]
    hops_of = {p.id: item.hops for p, item in zip(pending, decoded, strict=True) if item.hops is not None}
    client = get_redis()
    store_started = time.perf_counter()
    stored = messages_write_start(pending=pending)
    # while Cassandra writes: where the members' devices are (a superset of what is routed below)
    member_ids = {uid for p in pending for uid in p.recipient_ids}
    routes = redis_keys.routes_for_users(client, member_ids)
    live_servers = _live_servers(client, {s for servers in routes.values() for s in servers})
    results = stored()
    STORE_SECONDS.observe(time.perf_counter() - store_started)
    duplicates = sum(1 for r in results if r.duplicate)
    MESSAGES_STORED.inc(len(results) - duplicates)
    if duplicates:
        MESSAGES_DUPLICATE.inc(duplicates)
    _hops_mark_all(sampled, "stored")

    # route what is new, and also what a redelivered task had stored before its worker died (same
    # ID: its fan-out may never have happened; devices drop a second copy by ID). A client's resend
    # of a stored message (a different pending ID) is only acknowledged, unless that message's ID
    # is late (older than CHAT_LATE_ID_SECONDS): then this may be the first time it is stored in
    # full (its first store failed part way, or its task was retried under a fresh ID that lost to
    # its own first claim), too late for a sync's look-back to find it, so it goes again to the
    # members' connected devices (not to push) and into their feeds
    # "late" as of now that the rows are written: a store that took long (a slow or failing
    # Cassandra) can end past the window even for an ID renumbered at the start of the task
    late_before = snowflake_min_for_time(int(time.time() * 1000) - int(settings.CHAT_LATE_ID_SECONDS * 1000))
    new = [
        (p, r.message, o, not r.duplicate or r.message.id == p.id)
        for p, r, o in zip(pending, results, origins, strict=True)
        if not r.duplicate
        or r.message.id == p.id
        or (r.message.id < late_before and r.message.conversation_id == p.conversation_id)
    ]

    # a late one is also put in its members' feeds under a fresh feed_id, before it goes live: a
    # device not connected now may have synced past its ID, and only the feed finds it later
    feed_late_messages_write((m, p.recipient_ids) for p, m, _, _ in new if m.id < late_before)

    batches: dict[str, list[DeliveryEvent]] = defaultdict(list)
    offline: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p, message, origin, first_store in new:
        text = frame_text(message_new_frame(message))
        live_routes = {uid: routes.get(uid, set()) & live_servers for uid in p.recipient_ids}
        for uid, servers in live_routes.items():
            if first_store and not servers and uid != p.sender_id:
                offline[uid].append((message.conversation_id, message.id))
        for server_id, uids in users_by_server(live_routes).items():
            # the sending device gets the ack instead
            skip = origin.conn_id if origin.server_id == server_id else None
            batches[server_id].append(
                FrameToUsers(user_ids=uids, text=text, skip_conn=skip, hops=hops_of.get(p.id))
            )

    replies: list[tuple[str, str]] = []
    for result, origin in zip(results, origins, strict=True):
        message = result.message
        if origin.reply_key:
            reply = {"message": message_payload(message), "duplicate": result.duplicate}
            replies.append((origin.reply_key, frame_text(reply)))
        elif origin.server_id and origin.conn_id:
            ack = FrameToSocket(conn_id=origin.conn_id, text=frame_text(message_ack_frame(message)))
            batches[origin.server_id].append(ack)

    done = SyncBatch.decode(batch)
    if done is not None:
        batches[done.server_id].append(BatchDone(batch_id=done.batch_id))
    push = {"messages_by_user": {str(k): v for k, v in offline.items()}} if offline else None
    tasks = [] if push is None or current_app.conf.task_always_eager else [push_task(push)]
    _hops_mark_all(sampled, "published")  # the stopwatches travel in the published events
    publish_started = time.perf_counter()
    redis_keys.deliveries_publish(client, batches, tasks=tasks)  # and the push hand-off
    PUBLISH_SECONDS.observe(time.perf_counter() - publish_started)
    if offline:
        PUSH_HANDOFFS.inc(len(offline))
    # the conversations' newest message and the senders' read markers follow the acks (they are
    # not the message; a redelivered task repeats them), and precede the REST replies so that an
    # API client that got its 201 finds its conversation list up to date
    conversations_touch(messages=[r.message for r in results])
    if replies:
        redis_keys.replies_push(client, replies, ttl=REPLY_TTL)
    if push is not None and not tasks:  # tasks run eagerly in this process (tests)
        notify_offline_members.apply_async(kwargs=push, queue=PUSH_QUEUE)
    return [r.message for r in results]


def do_send_refuse(*, decoded: list[SyncItem], batch: dict[str, str] | None, nothing_written: bool) -> None:
    """The store could not take a batch: tell each origin `unavailable` (REST replies too),
    acknowledge nothing, free the chat server's slot.

    When nothing was written (too few replicas alive), the batch's (sender, client_msg_id) claims
    are dropped, so that a resend claims afresh: it is then stored with a fresh ID and delivered
    as a new message. Kept, the claim would make the resend a copy of this never-stored message,
    with an ID from before the outage (older than a sync's look-back) and no live delivery. After
    a timeout the claims stay: part of the batch may be stored, and the claim makes a resend
    complete that same message rather than store a second one.
    """
    log.warning(
        "the message store cannot take %d messages (%s written): refused, their senders resend",
        len(decoded),
        "nothing" if nothing_written else "perhaps partly",
    )
    client = get_redis()
    if nothing_written:
        # only of messages no earlier attempt may have half written (a timeout): a resend of one
        # of those must complete it, not store a second copy
        perhaps = claims.message_claims_perhaps_written(client, [item.pending for item in decoded])
        for item, written in zip(decoded, perhaps, strict=True):
            if not written:  # a claim of this message or of a renumbering of it (a larger ID)
                claims.message_claims_release(client, [item.pending], min_id=item.pending.id)
    batches: dict[str, list[DeliveryEvent]] = defaultdict(list)
    replies: list[tuple[str, str]] = []
    for item in decoded:
        frame = StoreUnavailable().as_frame(item.pending.client_msg_id)
        if item.origin.reply_key:
            replies.append((item.origin.reply_key, frame_text({"error": frame})))
        elif item.origin.server_id and item.origin.conn_id:
            event = FrameToSocket(conn_id=item.origin.conn_id, text=frame_text(frame))
            batches[item.origin.server_id].append(event)
    done = SyncBatch.decode(batch)
    if done is not None:
        batches[done.server_id].append(BatchDone(batch_id=done.batch_id))
    redis_keys.deliveries_publish(client, batches)
    if replies:
        redis_keys.replies_push(client, replies, ttl=REPLY_TTL)
