"""The claim table (`message_client_ids`): the durable record of each (sender, client_msg_id) claim
(docs/message-store.md), read per sender beside the Redis claims and written with the message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chat.domain.records import PendingMessage
from chat.store.cassandra.plans import Query
from chat.store.cassandra.tables import INSERT_CLAIM, SELECT_CLAIMS_OF_SENDER


def claim_winner(pending: PendingMessage, row: Any) -> PendingMessage:
    """The message that holds the claim, from its row in `message_client_ids`."""
    return PendingMessage(
        id=row.message_id,
        conversation_id=row.conversation_id,
        sender_id=pending.sender_id,
        client_msg_id=pending.client_msg_id,
        body=row.body or "",
        mentions=tuple(row.mentions or ()),
        recipient_ids=tuple(sorted(row.recipient_ids or ())),
    )


def claim_row(message: PendingMessage) -> Query:
    return (
        INSERT_CLAIM,
        (
            message.sender_id,
            message.client_msg_id,
            message.id,
            message.conversation_id,
            message.body,
            list(message.mentions),
            set(message.recipient_ids),
        ),
    )


def claim_reads(pending: Sequence[PendingMessage]) -> list[Query]:
    """One read of the claim table per sender of the batch (its client_msg_ids as one IN list)."""
    by_sender: dict[int, list[str]] = {}
    for p in pending:
        by_sender.setdefault(p.sender_id, []).append(p.client_msg_id)
    return [(SELECT_CLAIMS_OF_SENDER, (sender, sorted(set(ids)))) for sender, ids in by_sender.items()]


def claim_rows(reads: list[Query], rows_list: list[Any]) -> dict[tuple[int, str], Any]:
    return {
        (params[0], row.client_msg_id): row
        for (_, params), rows in zip(reads, rows_list, strict=True)
        for row in rows
    }
