"""Users, profiles, settings, friends, blocks, per-device tokens (PostgreSQL)."""
