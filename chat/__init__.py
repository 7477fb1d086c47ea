"""Conversations, memberships, Snowflake IDs, the message store (CQL), chat servers and the sync queue."""
