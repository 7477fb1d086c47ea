"""Domain errors of conversations and messages, one type per error (mapped by chatproject.errors)."""

from __future__ import annotations

from chatproject.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceError,
    TooLarge,
    ValidationFailed,
)


class ConversationNotFound(NotFound):
    """No such conversation, or the caller is not a member (the two are not told apart).

    REST answers 404; the WebSocket protocol calls it `forbidden` (DESIGN.md §3.2), for both cases.
    """

    default_message = "No such conversation."
    frame_code = "forbidden"


class MessageNotFound(NotFound):
    default_message = "No such message."


class UserNotFound(NotFound):
    default_message = "No such user."


class AccountInactive(Forbidden):
    default_message = "This account is deactivated."


class ConversationArchived(Forbidden):
    """An operator archived the conversation: its history stays, new messages are refused.

    REST answers 403 `conversation_archived`; the WebSocket error frame says `forbidden`, which
    clients already treat as final (an outbox does not resend it)."""

    code = "conversation_archived"
    default_message = "This conversation is archived; no new messages can be sent."


class NotMessageSender(Forbidden):
    default_message = "Only the sender may change a message."


class NotGroupAdmin(Forbidden):
    default_message = "Only the owner or an admin may remove other members."


class OwnerCannotBeRemoved(Forbidden):
    default_message = "The owner cannot be removed by others."


class NotAGroup(Conflict):
    """Members and titles belong to groups: asked of a direct conversation, a well-formed request
    conflicts with what the conversation is (409, as the OpenAPI schema documents)."""

    code = "not_a_group"
    default_message = "Members can only be changed in a group conversation."


class GroupFull(Conflict):
    code = "group_full"
    default_message = "The group has reached its member limit."


class MessageDeleted(Conflict):
    code = "message_deleted"
    default_message = "The message was deleted."


class ClientMsgIdReused(Conflict):
    code = "client_msg_id_reused"
    default_message = "This client_msg_id was already used for a message in another conversation."


class MessageTooLong(TooLarge):
    default_message = "The message body is too long."


class MessageInvalid(ValidationFailed):
    """A message field is malformed: empty body, bad client_msg_id."""


class StoreUnavailable(ServiceError):
    code = "unavailable"
    http_status = 503
    default_message = "The message could not be queued or stored; send it again with the same client_msg_id."


class MessageStoreUnavailable(ServiceError):
    """Cassandra could not serve a request at the configured consistency (too few replicas up,
    or they did not answer in time). `nothing_written`: the coordinator refused before writing
    anything (too few replicas alive), rather than timing out with a write perhaps half done."""

    code = "unavailable"
    http_status = 503
    default_message = "The message store is unavailable; try again shortly."

    def __init__(self, message: str | None = None, *, nothing_written: bool = False) -> None:
        super().__init__(message)
        self.nothing_written = nothing_written


class StoreTimeout(ServiceError):
    code = "store_timeout"
    http_status = 503
    default_message = "The message was not stored in time; send it again with the same client_msg_id."


class Overloaded(RateLimited):
    """The sync queue has fallen behind: new sends are refused until it catches up (with the
    milliseconds to wait), so that accepted messages keep a bounded latency."""

    code = "overloaded"
    http_status = 503
    default_message = "The service is busy; send it again with the same client_msg_id after retry_after_ms."
