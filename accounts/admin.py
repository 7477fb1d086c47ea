"""Django admin for users: search, filters, deactivation, and a read-only view of a user's
friends, blocks and logged-in devices (tokens are never shown, only their public device id)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join

from accounts import selectors, services
from accounts.models import Block, DeviceToken, User


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeviceTokenInline(ReadOnlyInline):
    model = DeviceToken
    fields = readonly_fields = ("device_id", "device_name", "created", "last_used_at", "expiry")
    verbose_name = "logged-in device"
    # an admin may log a device out (delete its token), never add or see one
    can_delete = True


class BlockInline(ReadOnlyInline):
    model = Block
    fk_name = "blocker"
    fields = readonly_fields = ("blocked", "created_at")
    verbose_name = "blocked user"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "display_name", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "email", "display_name")
    ordering = ("username",)
    readonly_fields = ("friends", "date_joined", "last_login")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Profile", {"fields": ("display_name", "avatar", "bio", "status_text", "time_zone")}),
        (
            "Settings",
            {
                "fields": (
                    "notifications_enabled",
                    ("dnd_start", "dnd_end"),
                    "presence_visibility",
                    "read_receipts_enabled",
                )
            },
        ),
        ("Friends", {"fields": ("friends",)}),
    )
    inlines = (DeviceTokenInline, BlockInline)
    actions = ("deactivate",)

    @admin.display(description="friends")
    def friends(self, user: User) -> str:
        friends = User.objects.filter(pk__in=selectors.friend_ids_of(user_id=user.pk)).order_by("username")
        return format_html_join(", ", "{} (#{})", ((f.username, f.pk) for f in friends)) or "-"

    @admin.action(description="Deactivate the selected users (their tokens stop working at once)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.user_deactivate(user=user)
        self.message_user(request, f"Deactivated {queryset.count()} user(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_deactivate(user=obj)
