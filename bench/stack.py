"""The bench's Django side: set-up of the bench population, connect tickets for idle connections,
the discovery registry, and the stored-exactly-once count in Cassandra.

Everything here goes through the project's own services: users and their device tokens are made
directly (registering thousands through the API would take minutes, the login lockout and the
anonymous throttle forbid it), conversations by the conversation services, tickets by the ticket
service, and the count reads the message store module (`chat.store.cassandra.message_store`).
Call `django_setup()` first; nothing here runs inside the event loop.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import StackProcesses, running_setting

BENCH_PASSWORD = "bench-pass-not-secret"
DEVICE_NAME = "bench"


def api_base_url() -> str:
    """The load balancer of the local stack (LB_PORT)."""
    from chatproject.settings.env import env_str

    return f"http://127.0.0.1:{env_str('LB_PORT', '8000')}"


def var_dir() -> Path:
    """CHAT_VAR_DIR: the stack's data, logs and pid files."""
    from django.conf import settings

    return Path(settings.VAR_DIR)


def output_dir() -> Path:
    """`var/bench` (under CHAT_VAR_DIR)."""
    return var_dir() / "bench"


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings.local")
    import django

    django.setup()


@dataclass(frozen=True)
class BenchUser:
    user_id: int
    username: str
    token: str


@dataclass(frozen=True)
class Conversation:
    id: int
    member_ids: tuple[int, ...]


Pair = tuple[BenchUser, BenchUser, int]  # sender, receiver, their direct conversation


@dataclass(frozen=True)
class SlowGroup:
    """The slow consumer's group (users of its own, `bench_slow_00`…): who sends, who reads, and
    the member whose socket stops reading."""

    conversation: Conversation
    senders: list[BenchUser]
    readers: list[BenchUser]
    slow: BenchUser


@dataclass
class Population:
    users: list[BenchUser]
    pairs: list[Pair]  # the many users' 1:1 pairs
    groups: list[Conversation]
    sync_user: BenchUser
    sync_partners: list[tuple[BenchUser, int]]  # partner, direct conversation with the sync user
    fast_pairs: list[Pair]  # the few busy users (users of their own: bench_fast_000…)
    slow: SlowGroup | None  # the slow consumer's group (None: not set up)
    run_start_id: int  # every message of this run has a larger ID

    def traffic_users(self) -> list[BenchUser]:
        """Everyone who sends or receives in the traffic scenarios."""
        return self.users + [u for a, b, _ in self.fast_pairs for u in (a, b)]

    def conversations(self) -> dict[int, tuple[int, ...]]:
        out: dict[int, tuple[int, ...]] = {
            cid: (a.user_id, b.user_id) for a, b, cid in self.pairs + self.fast_pairs
        }
        out.update({g.id: g.member_ids for g in self.groups})
        out.update({cid: (p.user_id, self.sync_user.user_id) for p, cid in self.sync_partners})
        if self.slow is not None:
            out[self.slow.conversation.id] = self.slow.conversation.member_ids
        return out


def _users_ensure(usernames: list[str], *, tokens: bool = True) -> list[BenchUser]:
    from django.contrib.auth.hashers import make_password

    from accounts.models import DeviceToken, User
    from accounts.services import device_token_create

    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    password = make_password(BENCH_PASSWORD)  # hashed once: Argon2 per user would take minutes
    User.objects.bulk_create(
        [
            User(username=name, email=f"{name}@bench.invalid", display_name=name, password=password)
            for name in usernames
            if name not in existing
        ],
        ignore_conflicts=True,
    )
    users = {u.username: u for u in User.objects.filter(username__in=usernames)}
    if not tokens:
        return [BenchUser(user_id=users[name].pk, username=name, token="") for name in usernames]
    DeviceToken.objects.filter(user__in=users.values(), device_name=DEVICE_NAME).delete()
    out = []
    for name in usernames:
        user = users[name]
        _, raw = device_token_create(user=user, device_name=DEVICE_NAME)
        out.append(BenchUser(user_id=user.pk, username=name, token=raw))
    return out


def _direct(a: BenchUser, b: BenchUser) -> int:
    from accounts.models import User
    from chat.services import conversation_direct_open

    conversation, _ = conversation_direct_open(user=User.objects.get(pk=a.user_id), other_id=b.user_id)
    return int(conversation.pk)


def _group(title: str, members: list[BenchUser]) -> Conversation:
    from accounts.models import User
    from chat.models import Conversation as ConversationRow
    from chat.models import ConversationKind, Membership
    from chat.services import conversation_group_create

    owner = User.objects.get(pk=members[0].user_id)
    wanted = {m.user_id for m in members}
    for row in ConversationRow.objects.filter(kind=ConversationKind.GROUP, title=title, owner=owner):
        have = set(Membership.objects.filter(conversation=row).values_list("user_id", flat=True))
        if have == wanted:
            return Conversation(id=row.pk, member_ids=tuple(sorted(have)))
    row = conversation_group_create(owner=owner, title=title, member_ids=[m.user_id for m in members])
    return Conversation(id=row.pk, member_ids=tuple(sorted(wanted)))


def _pairs(users: list[BenchUser]) -> list[Pair]:
    """Users 0 and 1, 2 and 3, … as pairs, with their direct conversations."""
    return [(a, b, _direct(a, b)) for a, b in zip(users[::2], users[1::2], strict=True)]


def _slow_group(*, senders: int, readers: int) -> SlowGroup:
    users = _users_ensure([f"bench_slow_{i:02d}" for i in range(senders + readers + 1)])
    return SlowGroup(
        conversation=_group("bench slow consumer", users),
        senders=users[:senders],
        readers=users[senders:-1],
        slow=users[-1],
    )


def bench_setup(
    *,
    pairs: int,
    groups: int,
    group_size: int,
    sync_partners: int,
    fast_pairs: int = 0,
    slow_senders: int = 0,
    slow_readers: int = 0,
) -> Population:
    """The bench users (bench_00000..., bench_fast_000..., bench_slow_00...), their tokens and
    conversations; idempotent. The slow consumer's group only with `slow_senders`."""
    from chat.domain.snowflake import snowflake_min_for_time

    n = max(2 * pairs, groups * group_size)
    users = _users_ensure([f"bench_{i:05d}" for i in range(n)] + ["bench_sync"])
    sync_user, users = users[-1], users[:-1]
    pair_list = _pairs(users[: 2 * pairs])
    fast = _pairs(_users_ensure([f"bench_fast_{i:03d}" for i in range(2 * fast_pairs)]))
    group_list = [
        _group(f"bench group {g}", users[g * group_size : (g + 1) * group_size]) for g in range(groups)
    ]
    partners = [(p, _direct(p, sync_user)) for p in users[:sync_partners]]
    return Population(
        users=users,
        pairs=pair_list,
        groups=group_list,
        sync_user=sync_user,
        sync_partners=partners,
        fast_pairs=fast,
        slow=_slow_group(senders=slow_senders, readers=slow_readers) if slow_senders else None,
        run_start_id=snowflake_min_for_time(int(time.time() * 1000) - 1000),
    )


def idle_tickets_issue(first: int, count: int) -> list[str]:
    """Connect tickets for idle connections `first`…`first + count - 1`, each a device login of
    its own, CHAT_SOCKETS_PER_USER to a user (users `bench_idle_00000`…): every socket is a real
    login within the limits a user has, as the chat servers check both. The first call of a run
    (`first` 0) removes the idle logins of earlier runs, which would pile up otherwise."""
    from django.conf import settings
    from knox.models import get_digest_token

    from accounts.models import DeviceToken
    from chat.store.redis.tickets import ticket_issue

    per_user = settings.CHAT_SOCKETS_PER_USER
    last_user = (first + count - 1) // per_user
    users = _users_ensure([f"bench_idle_{i:05d}" for i in range(last_user + 1)], tokens=False)
    if first == 0:  # a new run: the idle logins of earlier runs (their sockets long closed) go
        DeviceToken.objects.filter(user__username__startswith="bench_idle_").delete()
    tokens = []
    for index in range(first, first + count):
        digest, raw = get_digest_token(None)
        tokens.append(
            DeviceToken(
                user_id=users[index // per_user].user_id,
                digest=digest,
                token_key=raw[:15],
                device_name=DEVICE_NAME,
            )
        )
    DeviceToken.objects.bulk_create(tokens, batch_size=1000)
    return [ticket_issue(user_id=t.user_id, device_id=f"token:{t.device_id}") for t in tokens]


def send_settings(stack: StackProcesses, *, raised: bool) -> dict[str, Any]:
    """The per-user send limit, the hop sample share and the bound of a slow socket as the running
    chat servers have them (from their environment; the settings' defaults where they set none).
    `raised`: bench/run.sh started the stack with the limit raised; a stack of `make run` keeps
    its own."""
    from django.conf import settings

    def running(name: str) -> str:
        value = running_setting(stack, name)
        return str(getattr(settings, name)) if value is None else value

    return {
        "rate_limit_messages": int(running("CHAT_RATE_LIMIT_MESSAGES")),
        "rate_limit_window_s": float(running("CHAT_RATE_LIMIT_WINDOW")),
        "limits_raised_by_bench": raised,
        "hop_sample": float(running("CHAT_HOP_SAMPLE")),
        # the slow consumer's bound: unsent bytes before a 4008, the kernel's share, the close's grace
        "send_backlog_max": int(running("CHAT_SEND_BACKLOG_MAX")),
        "socket_send_buffer": int(running("CHAT_SOCKET_SEND_BUFFER")),
        "slow_close_grace_s": float(running("CHAT_SLOW_CLOSE_GRACE")),
    }


def chat_servers() -> dict[str, str]:
    """The live chat servers of the discovery registry: id → WebSocket URL."""
    from chat.store.redis.keys import servers_live
    from chatproject.redis_client import get_redis

    return {s.id: s.url for s in servers_live(get_redis()) if not s.draining}


def chat_servers_direct() -> dict[str, str]:
    """The live chat servers as above, each at its own port (`chat-<i>` on the i-th of CHAT_PORTS,
    as scripts/run.sh names them): the idle-connection scenario measures what a chat server holds,
    not the load balancer's connection limit."""
    from chatproject.settings.env import env_list

    ports = env_list("CHAT_PORTS", "8001,8002")
    direct = {}
    for server_id, url in chat_servers().items():
        index = server_id.removeprefix("chat-")
        if index.isdigit() and 0 < int(index) <= len(ports):
            direct[server_id] = f"ws://127.0.0.1:{ports[int(index) - 1]}/ws/chat"
        else:
            direct[server_id] = url
    return direct


def stored_counts(*, conversation_ids: Iterable[int], after_id: int) -> Counter[str]:
    """How many distinct stored messages carry each client_msg_id, in these conversations,
    among the messages with an ID greater than `after_id` (read through the message store)."""
    from chat.store.cassandra.message_store import conversation_history

    counts: Counter[str] = Counter()
    for cid in conversation_ids:
        cursor = after_id
        while True:
            page = conversation_history(conversation_id=cid, after=cursor, limit=1000)
            counts.update(m.client_msg_id for m in page.messages)
            if not page.has_more or not page.messages:
                break
            cursor = max(m.id for m in page.messages)
    return counts


# --- the change feed's scenario (bench/scenarios/feed.py): users of its own, so that nothing
# else of the run enters the feeds it counts


@dataclass(frozen=True)
class FeedPopulation:
    members: list[BenchUser]  # bench_feed_000…: the group; the first two also share a direct conversation
    group: Conversation
    direct: Conversation  # members[0] and members[1]
    catch_up_user: BenchUser  # bench_feed_sync: the device that was offline
    partners: list[tuple[BenchUser, int]]  # members who write to it: (user, direct conversation)


def feed_setup(*, group_size: int, partners: int) -> FeedPopulation:
    """The feed scenario's users (bench_feed_000…, bench_feed_sync), their tokens, their group and
    direct conversations; idempotent."""
    users = _users_ensure([f"bench_feed_{i:03d}" for i in range(group_size)] + ["bench_feed_sync"])
    catch_up_user, members = users[-1], users[:-1]
    a, b = members[0], members[1]
    return FeedPopulation(
        members=members,
        group=_group("bench feed group", members),
        direct=Conversation(id=_direct(a, b), member_ids=(a.user_id, b.user_id)),
        catch_up_user=catch_up_user,
        partners=[(p, _direct(p, catch_up_user)) for p in members[2 : 2 + partners]],
    )


def feed_rows_count(*, user_ids: Iterable[int], conversation_id: int, since: int) -> dict[str, Any]:
    """The Cassandra rows one conversation's messages and changes with an ID greater than `since`
    hold, read through the store modules: the conversation's rows, the users' inbox and mention
    rows, and their change rows by kind."""
    from chat.store.cassandra import feed_store

    users = list(user_ids)
    conversation_rows = sum(stored_counts(conversation_ids=[conversation_id], after_id=since).values())
    inbox = feed_store.inbox_count(user_ids=users, since=since, conversation_id=conversation_id)
    changes = feed_store.changes_count(user_ids=users, since=since, conversation_id=conversation_id)
    return {"messages_by_conversation": conversation_rows, **inbox, "changes_by_user": changes}


def messages_edit(*, edits: list[tuple[int, int, int]], threads: int = 4) -> float:
    """Edit each (editor, conversation, message) once through the message service (what
    `PATCH conversations/{id}/messages/{id}` calls, without the REST throttle), in `threads`
    threads; returns the wall seconds."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from chat.services import message_edit

    def share(part: list[tuple[int, int, int]]) -> None:
        try:
            for editor_id, conversation_id, message_id in part:
                message_edit(
                    editor_id=editor_id,
                    conversation_id=conversation_id,
                    message_id=message_id,
                    body=f"feed bench {message_id}, edited",
                )
        finally:
            connections.close_all()  # this thread's own database connection

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(share, [edits[i::threads] for i in range(threads)]))
    return time.perf_counter() - start
