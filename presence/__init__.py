"""Presence: online/offline state and lastActiveAt in Redis, heartbeats, the offline sweep, fan-out."""
