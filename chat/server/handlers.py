"""Services behind the chat server's frames other than sending: sync, typing, read markers,
rate limits. Each is awaited by the consumer; ORM work runs in Django's thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.domain.errors import ConversationNotFound
from chat.fanout import publish_to_users_async
from chat.protocol import catch_up_batch_frames, catch_up_done_frame, catch_up_reset_frame, typing_frame
from chat.selectors import catch_up_page, conversation_member_ids
from chat.services.receipts import conversation_mark_read, messages_mark_delivered
from chat.store.redis import limits
from chatproject.errors import RateLimited
from chatproject.redis_client import get_async_redis


async def device_login_alive(*, user_id: int, device_id: str) -> bool:
    """The device's login still stands (not logged out, revoked or deactivated)."""
    from accounts.selectors import device_login_alive as alive

    return bool(await database_sync_to_async(alive)(user_id=user_id, device_id=device_id))


class _SendBudgetRound:
    """The send-budget checks of one turn of the event loop, run in Redis in one round trip (a
    burst of sends costs one write to the socket instead of one each)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[tuple[int, asyncio.Future[tuple[str | None, int]]]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def take(self, user_id: int) -> asyncio.Future[tuple[str | None, int]]:
        if not self.waiting:
            self.loop.call_soon(self._flush)
        future: asyncio.Future[tuple[str | None, int]] = self.loop.create_future()
        self.waiting.append((user_id, future))
        return future

    def _flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        task = self.loop.create_task(self._run(waiting))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _run(waiting: list[tuple[int, asyncio.Future[tuple[str | None, int]]]]) -> None:
        try:
            answers = await limits.rate_limits_take(
                get_async_redis(),
                user_ids=[user_id for user_id, _ in waiting],
                limit=settings.CHAT_RATE_LIMIT_MESSAGES,
                window=settings.CHAT_RATE_LIMIT_WINDOW,
            )
        except Exception as exc:
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(waiting, answers, strict=True):
            if not future.done():
                future.set_result(answer)


_rounds: dict[asyncio.AbstractEventLoop, _SendBudgetRound] = {}


async def send_budget_take(*, user_id: int) -> str:
    """Count a send against the user's window (CHAT_RATE_LIMIT_MESSAGES per ..._WINDOW s);
    returns its entry, to give back with `send_budget_return` if the send is refused. Raises
    RateLimited, with the milliseconds until a send is allowed again."""
    loop = asyncio.get_running_loop()
    budget_round = _rounds.get(loop)
    if budget_round is None:
        _rounds.clear()  # one event loop per chat server (tests make new ones)
        budget_round = _rounds[loop] = _SendBudgetRound(loop)
    entry, retry_after_ms = await budget_round.take(user_id)
    if entry is None:
        raise RateLimited(
            f"at most {settings.CHAT_RATE_LIMIT_MESSAGES} messages per {settings.CHAT_RATE_LIMIT_WINDOW} s",
            retry_after_ms=retry_after_ms,
        )
    return entry


async def send_budget_return(*, user_id: int, entry: str) -> None:
    """A counted send was refused: it does not use the budget."""
    await limits.rate_limit_return(get_async_redis(), user_id=user_id, entry=entry)


async def catch_up_frames(*, user_id: int, since: int) -> AsyncIterator[dict[str, Any]]:
    """The `sync.batch` frames for a device at `since` (feed entries, ascending), then
    `sync.done`; or `sync.reset_required` alone for a device further behind than the feed keeps.

    At most CHAT_SYNC_MAX_MESSAGES entries per `sync` frame, CHAT_SYNC_BATCH entries and about
    CHAT_SYNC_BATCH_BYTES of JSON per `sync.batch`. The pages are those of `GET sync`
    (`catch_up_page`): when more are waiting, the last batch says `has_more`, and sync.done's
    `cur_max_message_id` is where the next `sync` continues, right after this answer.
    """
    sent = 0
    has_more = True
    newest = since  # the newest ID this answer looked at
    while has_more and sent < settings.CHAT_SYNC_MAX_MESSAGES:
        limit = min(settings.CHAT_SYNC_BATCH, settings.CHAT_SYNC_MAX_MESSAGES - sent)
        page, since = await database_sync_to_async(catch_up_page)(user_id=user_id, since=since, limit=limit)
        if page.reset_required:
            yield catch_up_reset_frame(since)
            return
        newest = max(newest, page.cur_max_message_id)
        sent += len(page.entries)
        has_more = page.has_more
        for frame in catch_up_batch_frames(
            page.entries, has_more=has_more, max_bytes=settings.CHAT_SYNC_BATCH_BYTES
        ):
            yield frame
    # cut short: where the next page starts (`since`, just past what the look-back would repeat);
    # complete: the newest ID seen, as the device's cur_max_message_id
    yield catch_up_done_frame(since if has_more else newest)


async def _members_or_404(*, user_id: int, conversation_id: int) -> set[int]:
    members = await database_sync_to_async(conversation_member_ids)(conversation_id=conversation_id)
    if user_id not in members:
        raise ConversationNotFound()
    return members


async def _not_blocking(*, actor_id: int, user_ids: set[int]) -> set[int]:
    """`user_ids` less those who blocked `actor_id`: a blocked user's events never reach them."""
    from accounts.selectors import blocker_ids_among

    blockers = await database_sync_to_async(blocker_ids_among)(blocked_id=actor_id, user_ids=user_ids)
    return user_ids - blockers


async def typing_announce(*, user_id: int, conversation_id: int, skip_conn: str, server_id: str) -> None:
    """Tell the other members' devices that `user_id` is typing (at most once per throttle)."""
    members = await _members_or_404(user_id=user_id, conversation_id=conversation_id)
    if not await limits.typing_throttle(
        get_async_redis(),
        user_id=user_id,
        conversation_id=conversation_id,
        seconds=settings.CHAT_TYPING_THROTTLE,
    ):
        return
    await publish_to_users_async(
        user_ids=await _not_blocking(actor_id=user_id, user_ids=members - {user_id}),
        frame=typing_frame(conversation_id=conversation_id, user_id=user_id),
        skip_conn=skip_conn,
        server_id=server_id,
    )


async def read_mark(
    *, user_id: int, conversation_id: int, message_id: int, skip_conn: str, server_id: str
) -> None:
    """Store the read marker and tell whom it concerns (`chat.services.receipts`), but the sending socket."""
    await database_sync_to_async(conversation_mark_read)(
        user_id=user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        skip_conn=skip_conn,
        server_id=server_id,
    )


async def delivered_mark(*, user_id: int, message_ids: tuple[int, ...]) -> None:
    """A device received these messages: delivered positions move, senders learn it."""
    await database_sync_to_async(messages_mark_delivered)(user_id=user_id, message_ids=message_ids)
