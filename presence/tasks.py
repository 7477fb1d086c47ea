"""Celery tasks of presence. Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from presence.services import presence_sweep as presence_sweep_service


@shared_task(name="presence.sweep", queue="sweep", ignore_result=True)
def presence_sweep() -> int:
    """Take offline the users silent for PRESENCE_OFFLINE_AFTER seconds (Celery beat)."""
    return presence_sweep_service()
