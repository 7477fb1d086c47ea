"""`manage.py seed_demo`: the demo users of the local stack (idempotent)."""

from typing import Any

from django.core.management.base import BaseCommand

from accounts.services import user_ensure_demo

DEMO_PASSWORD = "chat-demo-pass"
DEMO_USERS = (("alice", "Alice"), ("bob", "Bob"))


class Command(BaseCommand):
    help = f"Create the demo users alice and bob (password {DEMO_PASSWORD!r}) if they are missing."

    def handle(self, *args: Any, **options: Any) -> None:
        for username, display_name in DEMO_USERS:
            created = user_ensure_demo(username=username, display_name=display_name, password=DEMO_PASSWORD)
            self.stdout.write(f"demo user {username}: {'created' if created else 'already there'}")
