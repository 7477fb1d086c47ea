"""Celery tasks of presence, on the `presence` queue (worker-presence): never behind the other
periodic sweeps, nor behind message batches. Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from presence.services import presence_announce_due as presence_announce_due_service
from presence.services import presence_sweep as presence_sweep_service


@shared_task(name="presence.sweep", queue="presence", ignore_result=True)
def presence_sweep() -> int:
    """Take out the sockets silent for PRESENCE_OFFLINE_AFTER seconds (Celery beat)."""
    return presence_sweep_service()


@shared_task(name="presence.announce_due", queue="presence", ignore_result=True)
def presence_announce_due() -> int:
    """Announce the presence changes coalesced in windows that have ended (Celery beat, every
    PRESENCE_ANNOUNCE_DUE_INTERVAL seconds: the window's end is announced that late at most)."""
    return presence_announce_due_service()
