"""Typed records that cross process boundaries, Snowflake IDs and their worker leases, and every
chat error class. Imports nothing else of `chat`."""
