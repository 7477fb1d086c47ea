"""Push registrations (`Device`) in the admin: an operator looks them up by user and kind and may
remove one (audited); the endpoint and token are shown shortened, never the encryption keys."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.admin import AuditedModelAdmin
from notifications import services
from notifications.models import Device


@admin.register(Device)
class DeviceAdmin(AuditedModelAdmin):
    list_display = ("id", "user", "kind", "push_address", "login_device", "created_at", "last_success_at")
    list_filter = ("kind", "created_at", "last_success_at")
    search_fields = ("user__username", "login_device")
    fields = readonly_fields = (
        "user",
        "kind",
        "push_address",
        "login_device",
        "created_at",
        "last_success_at",
    )
    list_select_related = ("user",)

    @admin.display(description="endpoint or token")
    def push_address(self, device: Device) -> str:
        address = device.endpoint or device.token
        return address if len(address) <= 60 else f"{address[:57]}…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def perform_delete(self, request: HttpRequest, obj: Device) -> None:
        services.device_delete(user=obj.user, device_id=obj.pk)
