"""Reads of the push notification server."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from notifications.models import Device


def device_list_for_user(*, user: User) -> QuerySet[Device]:
    return Device.objects.filter(user=user).order_by("id")
