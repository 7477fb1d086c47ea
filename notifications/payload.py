"""What a push notification says, built by the push worker at send time (README "Push
notifications") and shown as it is by the browser's service worker (static/web/sw.js).

The push names the newest message's sender and its conversation (the group's title; for a direct
conversation the sender is the conversation), so that a device shows it without asking the API —
a locked phone may not be able to. The message text goes only to users who allow it
(`User.push_previews_enabled`): the push service cannot read it (RFC 8291), but a lock screen
shows it to anyone nearby. Several coalesced messages read as a count and the newest sender.

A push service takes at most 4,096 bytes of encrypted payload (RFC 8030 §7.2), so every text is
cut: whatever the names, titles and message, the payload stays well under that.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from accounts.models import User
from chat.models import Conversation, ConversationKind
from chat.store.cassandra.message_store import message_get

log = logging.getLogger(__name__)

PREVIEW_MAX_CHARS = 140
NAME_MAX_CHARS = 64
# the payload lists the conversations with news, newest first, up to this many
CONVERSATION_IDS_MAX = 10


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Newest:
    """The newest pending message as the push describes it (each part may be unknown)."""

    sender_name: str | None
    conversation_kind: str | None
    conversation_title: str | None
    text: str | None


def _newest_describe(*, conversation_id: int, message_id: int, previews: bool) -> _Newest:
    try:
        message = message_get(conversation_id=conversation_id, message_id=message_id)
    except Exception:  # the driver's errors are many; any of them costs only the details
        # a store that does not answer costs the push its sender and text, not the push
        log.warning("push: message %s not read from the store", message_id, exc_info=True)
        message = None
    sender = User.objects.filter(pk=message.sender_id).first() if message is not None else None
    sender_name = _cut(sender.display_name or sender.username, NAME_MAX_CHARS) if sender else None
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    kind = conversation.kind if conversation is not None else None
    if kind == ConversationKind.GROUP:
        title: str | None = _cut(conversation.title or "Group", NAME_MAX_CHARS) if conversation else None
    else:
        title = sender_name
    # a message deleted since it was sent shows no text
    text = message.body if previews and message is not None and not message.deleted else None
    return _Newest(sender_name, kind, title, _cut(text, PREVIEW_MAX_CHARS) if text else None)


def push_payload(*, user: User, messages: list[tuple[int, int]]) -> str:
    """The JSON a push carries for these pending (conversation id, message id) pairs.

    Its fields: `type` ("messages"), `count`, `conversation_ids` (newest first), `newest_message_id`
    (a decimal string), `sender_name` and `conversation_title` of the newest message (null when
    unknown), and `title` and `body` ready to show — the body is the message text only when the
    user allows previews, otherwise "New message" or a count.
    """
    newest_by_conversation: dict[int, int] = {}
    for conversation_id, message_id in messages:
        newest_by_conversation[conversation_id] = max(
            newest_by_conversation.get(conversation_id, 0), message_id
        )
    ordered = sorted(newest_by_conversation, key=lambda c: newest_by_conversation[c], reverse=True)
    newest_message_id = newest_by_conversation[ordered[0]]
    newest = _newest_describe(
        conversation_id=ordered[0], message_id=newest_message_id, previews=user.push_previews_enabled
    )
    count = len(messages)
    if newest.conversation_kind == ConversationKind.GROUP and newest.sender_name:
        title = f"{newest.sender_name} in {newest.conversation_title}"
    else:
        title = newest.conversation_title or "New message"
    if count == 1:
        body = newest.text or "New message"
    else:
        where = f" in {len(ordered)} conversations" if len(ordered) > 1 else ""
        latest = f", the latest from {newest.sender_name}" if newest.sender_name and len(ordered) > 1 else ""
        body = f"{count} new messages{where}{latest}" + (f": {newest.text}" if newest.text else "")
    payload = {
        "type": "messages",
        "count": count,
        "conversation_ids": ordered[:CONVERSATION_IDS_MAX],
        "newest_message_id": str(newest_message_id),
        "sender_name": newest.sender_name,
        "conversation_title": newest.conversation_title,
        "title": title,
        "body": body,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
