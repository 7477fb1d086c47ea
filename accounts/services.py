"""Writes on accounts (users, profiles, friends, blocks, tokens)."""

from __future__ import annotations

from accounts.models import User


def user_ensure_demo(*, username: str, display_name: str, password: str) -> bool:
    """Create the demo user `username` unless it exists; return whether it was created."""
    if User.objects.filter(username__iexact=username).exists():
        return False
    User.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=password,
        display_name=display_name,
    )
    return True
