"""Actions (writes) on conversations, messages and receipts, shared by the WebSocket and REST
edges and the sync worker; one module per area:

- `conversations`: direct and group creation, renames, mute, membership, block state;
- `messages`: the send's checks (`check_message_*`), the worker's `conversations_touch`, edits and
  deletes;
- `receipts`: read and delivered positions.

Every change a user's devices must learn enters their change feed (`chat.feed`).
"""

from chat.services.conversations import (
    conversation_direct_open,
    conversation_group_create,
    conversation_member_add,
    conversation_member_remove,
    conversation_moderate_archive,
    conversation_moderate_member_add,
    conversation_moderate_member_remove,
    conversation_moderate_rename,
    conversation_moderate_role_set,
    conversation_update,
    direct_block_announce,
)
from chat.services.messages import (
    CLIENT_MSG_ID_RE,
    check_message_input,
    check_message_send,
    check_message_send_blocking,
    conversations_touch,
    mentions_resolve,
    message_delete,
    message_edit,
    message_moderate_delete,
)
from chat.services.receipts import conversation_mark_read, messages_mark_delivered

__all__ = [
    "CLIENT_MSG_ID_RE",
    "check_message_input",
    "check_message_send",
    "check_message_send_blocking",
    "conversation_direct_open",
    "conversation_group_create",
    "conversation_mark_read",
    "conversation_member_add",
    "conversation_member_remove",
    "conversation_moderate_archive",
    "conversation_moderate_member_add",
    "conversation_moderate_member_remove",
    "conversation_moderate_rename",
    "conversation_moderate_role_set",
    "conversation_update",
    "conversations_touch",
    "direct_block_announce",
    "mentions_resolve",
    "message_delete",
    "message_edit",
    "message_moderate_delete",
    "messages_mark_delivered",
]
