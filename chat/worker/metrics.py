"""The sync worker's metrics (served by each worker process: `chatproject.metrics`). Every one is
counted or observed once per batch in `do_send_messages`; tasks run and failed are Celery's
`chat_celery_tasks` (by task and state)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from chatproject.metrics import BATCH_SIZE_BUCKETS, ROUND_SECONDS_BUCKETS

SYNC_BATCH_SIZE = Histogram("chat_sync_batch_size", "Messages per sync task", buckets=BATCH_SIZE_BUCKETS)
SYNC_BATCH_SECONDS = Histogram(
    "chat_sync_batch_seconds",
    "Time to store, route and acknowledge a sync batch",
    buckets=ROUND_SECONDS_BUCKETS,
)
STORE_SECONDS = Histogram(
    "chat_store_seconds",
    "Time of a batch's store round (Cassandra writes and claims, the routes read beside them)",
    buckets=ROUND_SECONDS_BUCKETS,
)
PUBLISH_SECONDS = Histogram(
    "chat_publish_seconds",
    "Time of a batch's publish round (deliveries to the chat servers and the push hand-off)",
    buckets=ROUND_SECONDS_BUCKETS,
)
MESSAGES_STORED = Counter("chat_messages_stored", "Messages this worker stored (new ones)")
MESSAGES_DUPLICATE = Counter(
    "chat_messages_duplicate", "Messages found already stored (a client's resend, a redelivered task)"
)
MESSAGES_RENUMBERED = Counter(
    "chat_messages_renumbered", "Messages that reached storage late and got a fresh ID (CHAT_LATE_ID_SECONDS)"
)
PUSH_HANDOFFS = Counter("chat_push_handoffs", "Members with no live device handed to the push queue")
SYNC_BATCH_ERRORS = Counter("chat_sync_batch_errors", "Sync batches that failed (the task is retried)")
