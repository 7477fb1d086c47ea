"""The operators' admin of chat: conversations and memberships (`conversations`), the chat
servers of the registry (`servers`) and message moderation (`moderation`). Every change goes
through the services, so members' devices learn of it, and writes one audit entry (`audit`)."""

from chat.admin import conversations, moderation, servers

__all__ = ["conversations", "moderation", "servers"]
