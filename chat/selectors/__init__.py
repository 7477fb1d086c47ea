"""Reads, shared by the WebSocket and REST edges and the workers; one module per area:

- `conversations`: conversations and their members as one member sees them, history, mentions;
- `catch_up`: a device's change feed from its cursor (`sync`, `GET sync`);
- `send_rules`: what validating a send needs, cached per chat server.
"""

from chat.selectors.catch_up import SyncPage, catch_up_lower_bound, catch_up_page, feed_sync
from chat.selectors.conversations import (
    ConversationSummary,
    MemberInfo,
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_member_ids,
    membership_get,
    mention_list,
    message_find,
    message_history,
    messages_find_by_sender,
)
from chat.selectors.send_rules import (
    SendRules,
    conversation_send_rules,
    conversation_send_rules_cached,
    send_rules_forget,
    send_rules_refresh_due,
)

__all__ = [
    "ConversationSummary",
    "MemberInfo",
    "SendRules",
    "SyncPage",
    "catch_up_lower_bound",
    "catch_up_page",
    "conversation_get_for_user",
    "conversation_list_for_user",
    "conversation_member_ids",
    "conversation_send_rules",
    "conversation_send_rules_cached",
    "feed_sync",
    "membership_get",
    "mention_list",
    "message_find",
    "message_history",
    "messages_find_by_sender",
    "send_rules_forget",
    "send_rules_refresh_due",
]
