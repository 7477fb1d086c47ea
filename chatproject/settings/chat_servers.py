"""Settings of the chat servers and the send path: discovery registry, connect tickets, WebSocket
limits, the sending window, shedding and hop sampling (imported by `base`)."""

from chatproject.settings.env import env_float, env_int, env_str

CHAT_SERVER_ID = env_str("CHAT_SERVER_ID", "")  # empty: "<hostname>-<pid>"
CHAT_SERVER_URL = env_str("CHAT_SERVER_URL", "ws://127.0.0.1:8001/ws/chat")
CHAT_SERVER_REGION = env_str("CHAT_SERVER_REGION", "local")
CHAT_SERVER_CAPACITY = env_int("CHAT_SERVER_CAPACITY", 10000)
CHAT_REGISTRY_TTL = env_int("CHAT_REGISTRY_TTL", 15)  # seconds an unrefreshed entry lives
CHAT_REGISTRY_REFRESH = env_float("CHAT_REGISTRY_REFRESH", 5.0)
CHAT_DRAIN_GRACE = env_float("CHAT_DRAIN_GRACE", 5.0)  # seconds between server.draining and close
CHAT_TICKET_TTL = env_int("CHAT_TICKET_TTL", 60)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 65536)
CHAT_RATE_LIMIT_MESSAGES = env_int("CHAT_RATE_LIMIT_MESSAGES", 100)
CHAT_RATE_LIMIT_WINDOW = env_int("CHAT_RATE_LIMIT_WINDOW", 10)
# every other frame type: at most this many per socket per CHAT_FRAME_BUDGET_WINDOW s (chat/server/budget.py);
# `invalid` counts frames that cannot be parsed or name an unknown type
CHAT_FRAME_BUDGET_WINDOW = env_float("CHAT_FRAME_BUDGET_WINDOW", 10.0)
CHAT_FRAME_BUDGETS = {
    "typing": env_int("CHAT_BUDGET_TYPING", 20),
    "read": env_int("CHAT_BUDGET_READ", 60),
    "sync": env_int("CHAT_BUDGET_SYNC", 10),
    "heartbeat": env_int("CHAT_BUDGET_HEARTBEAT", 10),
    "delivered": env_int("CHAT_BUDGET_DELIVERED", 60),
    "invalid": env_int("CHAT_BUDGET_INVALID", 20),
}
# sockets of one user on all chat servers together; one more closes the oldest (code 4429)
CHAT_SOCKETS_PER_USER = env_int("CHAT_SOCKETS_PER_USER", 10)
# messages one `sync` frame answers at most; the last sync.batch says has_more, and the client asks
# again from the sync.done's cur_max_message_id
CHAT_SYNC_MAX_MESSAGES = env_int("CHAT_SYNC_MAX_MESSAGES", 1000)
CHAT_TYPING_THROTTLE = env_float("CHAT_TYPING_THROTTLE", 3.0)
CHAT_SYNC_BATCH = env_int("CHAT_SYNC_BATCH", 200)  # messages per sync.batch frame
# ... and at most about this many bytes of JSON per sync.batch (daphne refuses messages over 1 MiB)
CHAT_SYNC_BATCH_BYTES = env_int("CHAT_SYNC_BATCH_BYTES", 262_144)
# a message older than this at storage time gets a fresh ID; syncs look back this far (DESIGN.md §4)
CHAT_LATE_ID_SECONDS = env_float("CHAT_LATE_ID_SECONDS", 10.0)
# days the change feed keeps its entries other than messages; a device further behind gets
# sync.reset_required (docs/protocol.md, "The change feed")
CHAT_FEED_RETENTION_DAYS = env_float("CHAT_FEED_RETENTION_DAYS", 30.0)
# the sending window (chat/server/sending.py): batches of at most CHAT_SEND_BATCH_MAX sends leave
# CHAT_SEND_BATCH_MS after the first (0: at the end of the event loop's turn) while the window
# has room; CHAT_SEND_MAX_INFLIGHT sync tasks of one chat server are in the queue at once
CHAT_SEND_BATCH_MS = env_float("CHAT_SEND_BATCH_MS", 0.0)
CHAT_SEND_BATCH_MAX = env_int("CHAT_SEND_BATCH_MAX", 200)
CHAT_SEND_MAX_INFLIGHT = env_int("CHAT_SEND_MAX_INFLIGHT", 4)
# while a batch is in flight, another leaves only with this many sends (a smaller one waits to grow)
CHAT_SEND_BATCH_FILL = env_int("CHAT_SEND_BATCH_FILL", 20)
# seconds Redis arbitrates a (sender, client_msg_id) claim; later resends are caught by the claim table
CHAT_CLAIM_TTL = env_int("CHAT_CLAIM_TTL", 600)
# seconds after which a batch the worker never reported done stops holding its slot
CHAT_SEND_INFLIGHT_TIMEOUT = env_float("CHAT_SEND_INFLIGHT_TIMEOUT", 5.0)
# seconds a chat server keeps a conversation's members and block state for validating sends; changes
# evict them at once (through the delivery channels), this bounds an eviction that was lost
CHAT_SEND_RULES_CACHE_SECONDS = env_float("CHAT_SEND_RULES_CACHE_SECONDS", 30.0)
# the share of messages that carry per-hop timestamps (chat/domain/hops.py; `make bench` reports them)
CHAT_HOP_SAMPLE = env_float("CHAT_HOP_SAMPLE", 0.01)
# shedding: a chat server refuses new sends (`overloaded`, with retry_after_ms) while more than
# CHAT_SHED_WAITING of its sends wait for the sync queue, or the oldest has waited CHAT_SHED_AGE_MS
CHAT_SHED_WAITING = env_int("CHAT_SHED_WAITING", 2000)
CHAT_SHED_AGE_MS = env_float("CHAT_SHED_AGE_MS", 500.0)
# ... and while its event loop runs what is due this many milliseconds late (frames wait in it)
CHAT_SHED_LAG_MS = env_float("CHAT_SHED_LAG_MS", 100.0)
# bytes a socket may leave unsent (its client stopped reading): a socket found past it at two
# checks in a row (one a second) is closed with 4008, and dropped CHAT_SLOW_CLOSE_GRACE seconds
# later if its client has not read up to the close frame (docs/protocol.md, "Close codes")
CHAT_SEND_BACKLOG_MAX = env_int("CHAT_SEND_BACKLOG_MAX", 4 * 1024 * 1024)
CHAT_SLOW_CLOSE_GRACE = env_float("CHAT_SLOW_CLOSE_GRACE", 10.0)
# the kernel's send buffer of each socket, in bytes (0: the kernel's own, autotuned up to
# net.ipv4.tcp_wmem's maximum): what a client that stops reading holds there before the chat
# server's own buffer, which CHAT_SEND_BACKLOG_MAX bounds, grows
CHAT_SOCKET_SEND_BUFFER = env_int("CHAT_SOCKET_SEND_BUFFER", 0)
