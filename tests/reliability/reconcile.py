"""The end of every fault test: what was sent, acknowledged, stored, lost and shown twice.

`reconcile` waits until every member's outbox is acknowledged and every device has caught up,
then counts each conversation's stored history in Cassandra (through the message store's reads,
as the service reads it) and each member device's messages, and returns one row of the README's
Reliability table. A message is **lost** when it was acknowledged and is missing from storage or
from a member's device after catch-up; **duplicated** counts the extra copies of a
(sender, client_msg_id) in storage and on devices. The row is printed and appended to
`<stack var>/reliability.json`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from chat.domain.records import StoredMessage
from chat.store.cassandra.message_store import conversation_history
from tests.reliability.fleet import Member, first_ack_after

PAGE = 500


@dataclass
class Row:
    fault: str
    sent: int
    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    recovery_s: float | None


def stored_history(conversation_id: int) -> list[StoredMessage]:
    """Every stored message of a conversation, newest first, read page by page."""
    messages: list[StoredMessage] = []
    before: int | None = None
    while True:
        page = conversation_history(conversation_id=conversation_id, before=before, limit=PAGE)
        messages.extend(page.messages)
        if not page.has_more or not page.messages:
            return messages
        before = page.messages[-1].id


async def reconcile(
    *,
    fault: str,
    conversations: Mapping[int, Sequence[Member]],
    report: Path,
    fault_ended_at: float | None = None,
    recovery_s: float | None = None,
    settle_wait: float = 90,
) -> Row:
    """Settle, catch up, count (module docstring). `conversations`: each conversation's member
    devices, senders included. The row's recovery is `recovery_s` when the test measured its own,
    else the time from `fault_ended_at` (a `time.monotonic()`) to the first ack of a message sent
    after it, taken once every outbox is acknowledged so that late acks count."""
    members = {id(m): m for ms in conversations.values() for m in ms}.values()
    await asyncio.gather(*(m.settle(wait=settle_wait) for m in members))
    if recovery_s is None and fault_ended_at is not None:
        recovery_s = first_ack_after(list(members), fault_ended_at)
    for member in members:
        if not member.connected():
            await asyncio.sleep(1)  # its keeper reconnects, and catches up on the way
        async with asyncio.timeout(60):
            while not member.connected():  # noqa: ASYNC110  (the keeper task reconnects it)
                await asyncio.sleep(0.2)
        await member.catch_up()

    sent = {(m.account.user_id, c) for m in members for c in m.sent}
    acked: dict[tuple[int, str], int] = {
        (m.account.user_id, c): mid for m in members for c, mid in m.device.acks.items()
    }
    stored_rows = Counter[tuple[int, str]]()
    stored_ids: dict[tuple[int, str], set[int]] = defaultdict(set)
    lost: set[tuple[int, str]] = set()
    why_lost: list[str] = []  # printed: which device misses which message, or which ID was not stored
    duplicated = 0
    for conversation_id, conversation_members in conversations.items():
        history = await asyncio.to_thread(stored_history, conversation_id)
        for message in history:
            key = (message.sender_id, message.client_msg_id)
            if key in sent:
                stored_rows[key] += 1
                stored_ids[key].add(message.id)
        wanted = {
            (m.account.user_id, c)
            for m in members
            for c, in_conversation in m.conversation_of.items()
            if in_conversation == conversation_id and (m.account.user_id, c) in acked
        }
        for member in conversation_members:
            on_device = Counter(
                (int(msg["sender_id"]), str(msg["client_msg_id"]))
                for msg in member.device.seen.values()
                if int(msg["conversation_id"]) == conversation_id
            )
            duplicated += sum(n - 1 for n in on_device.values() if n > 1)
            missing = {key for key in wanted if on_device[key] == 0}
            lost |= missing
            why_lost += [
                f"{member.name} (cur_max {member.device.cur_max}) lacks {key} acked as {acked[key]}"
                for key in sorted(missing)
            ]
    # an acknowledged message is stored under the ID its sender was told
    misstored = {key for key, mid in acked.items() if mid not in stored_ids.get(key, set())}
    lost |= misstored
    why_lost += [
        f"{key} acked as {acked[key]}, stored as {sorted(stored_ids.get(key, set()))}"
        for key in sorted(misstored)
    ]
    duplicated += sum(n - 1 for n in stored_rows.values() if n > 1)
    row = Row(
        fault=fault,
        sent=len(sent),
        acknowledged=len(acked),
        stored=sum(stored_rows.values()),
        lost=len(lost),
        duplicated=duplicated,
        recovery_s=recovery_s,
    )
    print(f"\nRELIABILITY {json.dumps(asdict(row))}")
    for line in why_lost[:40]:
        print(f"LOST {line}")
    with report.open("a") as out:
        out.write(json.dumps(asdict(row)) + "\n")
    return row


def assert_clean(row: Row, *, recovered_within: float | None = None) -> None:
    """Every message sent was acknowledged, stored once and reached every member device; with
    `recovered_within`, the service took new messages again within that many seconds."""
    assert (row.lost, row.duplicated) == (0, 0), row
    assert row.sent == row.acknowledged == row.stored, row
    if recovered_within is not None:
        assert row.recovery_s is not None, row
        assert row.recovery_s < recovered_within, row
