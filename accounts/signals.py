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
- `device_login_renewed(user_id, old_device_id, new_device_id)`: a device's login goes on under a
  new id — a browser whose session key a password change rotated (`session:<old>` became
  `session:<new>`). Sent after the transaction commits, after the `device_logins_ended` of the
  same change. Receiver: notifications (the browser's push registrations follow it, so that its
  later logout still removes them).
- `blocks_changed(blocker_id, blocked_id)`: a block was made or lifted, after the commit.
  Receiver: chat (the chat servers forget their cached send rules: a direct conversation of the
  pair may now refuse or take messages; the blocker's devices learn it from their feed).

The imports the other way: the login's chat-server assignment (`accounts.apis.auth` calls
`chat.discovery`): discovery is part of login (DESIGN.md §3.1); `pyproject.toml` names it. And
the friend list shows each friend's presence (`accounts.apis.friends` reads `presence.selectors`, whose
shape `accounts.serializers` takes from `presence.serializers`): reads, never a write.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

device_logins_ended = Signal()
device_login_renewed = Signal()
blocks_changed = Signal()


def _send_after_commit(signal: Signal, name: str, **kwargs: object) -> None:
    """Send `signal` once the current transaction commits; a receiver's failure is logged and
    does not stop the others."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("%s receiver %r failed", name, receiver, exc_info=result)

    transaction.on_commit(send)


def device_logins_end(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None = None
) -> None:
    """Announce, once the current transaction commits, that these device logins ended.

    A receiver's failure is logged and does not stop the others: the login itself has ended
    already (tokens deleted, session flushed), and each receiver has a safety net of its own
    (tickets and sockets are checked against the login, presence expires, push re-checks).
    """
    _send_after_commit(
        device_logins_ended,
        "device_logins_ended",
        user_id=user_id,
        device_ids=device_ids,
        except_device=except_device,
    )


def device_login_renew(*, user_id: int, old_device_id: str, new_device_id: str) -> None:
    """Announce, once the current transaction commits, that a device's login goes on under a new id."""
    _send_after_commit(
        device_login_renewed,
        "device_login_renewed",
        user_id=user_id,
        old_device_id=old_device_id,
        new_device_id=new_device_id,
    )


def blocks_change(*, blocker_id: int, blocked_id: int) -> None:
    """Announce, once the current transaction commits, that a block was made or lifted."""
    _send_after_commit(blocks_changed, "blocks_changed", blocker_id=blocker_id, blocked_id=blocked_id)
