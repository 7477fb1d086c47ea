"""Appending a change to users' change feeds, then sending the same entry live (docs/protocol.md,
"The change feed"; the storage is `chat.store.cassandra.feed_store`).

One change gets one Snowflake `feed_id`, is written to the feed of every user it concerns, and
only then published to their live devices: a device that misses the live frame finds the entry
in its next sync. The same late-entry rule as messages holds (DESIGN.md §4): an entry written
later than CHAT_LATE_ID_SECONDS after its ID was taken is written again under a fresh ID, so
that a device that synced past the first ID in the meantime still finds it within the window a
sync looks back (applying an entry twice changes nothing on a device).

Callers in a transaction send after the commit (`feed_change_send_on_commit`): a change that was
rolled back never enters a feed. An entry that cannot be written then (Cassandra failing) goes to
the sync queue, whose worker writes it when it can (`feed_change_retry_enqueue`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction

from chat.domain.records import FeedChange, StoredMessage
from chat.domain.snowflake import snowflake_next_id, snowflake_timestamp_ms
from chat.fanout import publish_to_users
from chat.protocol import feed_change_frame, message_payload
from chat.store.cassandra import feed_store
from chat.sync_queue import SYNC_QUEUE

log = logging.getLogger(__name__)


def _late(feed_id: int) -> bool:
    return time.time() * 1000 - snowflake_timestamp_ms(feed_id) > settings.CHAT_LATE_ID_SECONDS * 1000


def _change_write(change: FeedChange, users: set[int]) -> FeedChange:
    """Write `change` to the feeds of `users`; again under a fresh ID if the write ended late.
    Returns the entry as last written."""
    feed_store.changes_write(change=change, user_ids=users)
    if _late(change.feed_id):
        late_id = change.feed_id
        change = replace(change, feed_id=snowflake_next_id())
        feed_store.changes_write(change=change, user_ids=users)
        log.info("feed entry %s written late: written again as %s", late_id, change.feed_id)
    return change


def feed_late_messages_write(messages: Iterable[tuple[StoredMessage, Iterable[int]]]) -> None:
    """Messages stored with an ID already older than a sync's look-back (each with the users whose
    inbox holds it): each gets a `message.new` entry under a fresh `feed_id` in those users'
    feeds, so that a device that synced past the message's ID before it was stored still finds it
    (its inbox row, clustered by the old ID, lies behind the device's cursor)."""
    for message, user_ids in messages:
        change = FeedChange(
            feed_id=snowflake_next_id(),
            kind="message.new",
            conversation_id=message.conversation_id,
            fields={"message": message_payload(message)},
        )
        written = _change_write(change, set(user_ids))
        log.info("message %s stored late: in the feeds as %s", message.id, written.feed_id)


def feed_change_send(
    *,
    kind: str,
    conversation_id: int,
    fields: dict[str, Any],
    user_ids: Iterable[int],
    skip_conn: str | None = None,
    server_id: str | None = None,
) -> FeedChange | None:
    """Append a change of type `kind` to the feeds of `user_ids`, then send it to their live
    devices (less `skip_conn` on `server_id`, the socket that caused it); returns the entry."""
    users = set(user_ids)
    if not users:
        return None
    change = _change_write(
        FeedChange(feed_id=snowflake_next_id(), kind=kind, conversation_id=conversation_id, fields=fields),
        users,
    )
    publish_to_users(
        user_ids=users, frame=feed_change_frame(change), skip_conn=skip_conn, server_id=server_id
    )
    return change


def feed_change_send_on_commit(
    *, kind: str, conversation_id: int, fields: dict[str, Any], user_ids: Iterable[int]
) -> None:
    """`feed_change_send` once the current transaction commits. A failure then is logged: the
    change itself is committed, and the entry is what tells devices of it."""
    users = set(user_ids)

    def send() -> None:
        try:
            feed_change_send(kind=kind, conversation_id=conversation_id, fields=fields, user_ids=users)
        except Exception:
            log.warning(
                "feed entry %s of conversation %s was not written: handed to the sync queue",
                kind,
                conversation_id,
                exc_info=True,
            )
            feed_change_retry_enqueue(
                kind=kind, conversation_id=conversation_id, fields=fields, user_ids=users
            )

    transaction.on_commit(send)


FEED_CHANGE_RETRY = "chat.feed_change_retry"  # the task (chat.worker.tasks) that writes it later


def feed_change_retry_enqueue(
    *, kind: str, conversation_id: int, fields: dict[str, Any], user_ids: Iterable[int]
) -> None:
    """A change whose entry could not be written now (Cassandra failing) goes to the sync queue,
    whose worker tries again until it is written: the change is committed, and without its entry
    a device learns of it only by a reload. Only if the queue is out of reach too is it lost (logged)."""
    kwargs = {
        "kind": kind,
        "conversation_id": conversation_id,
        "fields": fields,
        "user_ids": sorted(set(user_ids)),
    }
    try:
        current_app.send_task(FEED_CHANGE_RETRY, kwargs=kwargs, queue=SYNC_QUEUE, countdown=1)
    except Exception:
        log.exception("feed entry %s of conversation %s was lost", kind, conversation_id)
