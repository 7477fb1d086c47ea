"""What accounts tells the rest of the service, in one place.

`accounts` never imports the apps that depend on it (chat, presence, notifications); it sends a
signal instead, and each of those apps connects its receiver in its `AppConfig.ready`:

- `device_logins_ended(user_id, device_ids, except_device)`: the logins of some devices of a user
  ended — logout, a revoked token, a password change (every other device), a deactivation (every
  device). `device_ids` lists the ended devices (`token:<uuid>` or `session:<key>`, see
  `accounts.selectors.device_id_for_request`), or is None for every device of the user except
  `except_device` (None: all of them). Sent after the transaction commits. Receivers:
  chat (closes the devices' sockets, code 4401), presence (drops their sockets; offline if none
  is left), notifications (deletes the push registrations those logins made).
- `blocks_changed(blocker_id, blocked_id)`: a block was made or lifted, after the commit.
  Receiver: chat (the chat servers forget their cached send rules: a direct conversation of the
  pair may now refuse or take messages; the blocker's devices learn it from their feed).

The one import the other way is the login's chat-server assignment (`accounts.apis` calls
`chat.discovery`): discovery is part of login (DESIGN.md §3.1); `pyproject.toml` names it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

device_logins_ended = Signal()
blocks_changed = Signal()


def device_logins_end(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None = None
) -> None:
    """Announce, once the current transaction commits, that these device logins ended.

    A receiver's failure is logged and does not stop the others: the login itself has ended
    already (tokens deleted, session flushed), and each receiver has a safety net of its own
    (tickets and sockets are checked against the login, presence expires, push re-checks).
    """

    def send() -> None:
        for receiver, result in device_logins_ended.send_robust(
            sender=None, user_id=user_id, device_ids=device_ids, except_device=except_device
        ):
            if isinstance(result, Exception):
                log.error("device_logins_ended receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)


def blocks_change(*, blocker_id: int, blocked_id: int) -> None:
    """Announce, once the current transaction commits, that a block was made or lifted."""

    def send() -> None:
        for receiver, result in blocks_changed.send_robust(
            sender=None, blocker_id=blocker_id, blocked_id=blocked_id
        ):
            if isinstance(result, Exception):
                log.error("blocks_changed receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)
