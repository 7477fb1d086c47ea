"""Django admin for users: search, filters, deactivation, and a read-only view of a user's
friends, blocks and logged-in devices (tokens are never shown, only their public device id);
friend requests, blocks and login devices (with "revoke") have pages of their own, whose
changes go through `accounts.services` and write one audit entry each (`audit`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join

from accounts import selectors, services
from accounts.models import Block, DeviceToken, FriendRequest, User
from audit.admin import AuditedModelAdmin, audit
from chatproject.errors import ServiceError


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
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
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
            audit(request, action="user.deactivate", target_type="user", target_id=user.pk)
        self.message_user(request, f"Deactivated {queryset.count()} user(s).", messages.SUCCESS)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is DeviceToken:  # a login deleted here is revoked: its sockets end too
            formset.save(commit=False)
            for token in formset.deleted_objects:
                services.device_token_revoke(user=token.user, device_id=str(token.device_id))
            return
        super().save_formset(request, form, formset, change)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_deactivate(user=obj)


class ViewAndDeleteOnly(AuditedModelAdmin):
    """Rows that users make through the API: an operator looks, and may delete (audited)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FriendRequest)
class FriendRequestAdmin(ViewAndDeleteOnly):
    list_display = ("id", "from_user", "to_user", "status", "created_at", "responded_at")
    list_filter = ("status", "created_at")
    search_fields = ("from_user__username", "to_user__username")
    list_select_related = ("from_user", "to_user")


@admin.register(Block)
class BlockAdmin(ViewAndDeleteOnly):
    list_display = ("id", "blocker", "blocked", "created_at")
    list_filter = ("created_at",)
    search_fields = ("blocker__username", "blocked__username")
    list_select_related = ("blocker", "blocked")

    def perform_delete(self, request: HttpRequest, obj: Block) -> None:
        # an unblock: chat servers forget their send rules, the direct conversation learns it
        services.block_remove(blocker=obj.blocker, blocked_id=obj.blocked_id)


@admin.register(DeviceToken)
class DeviceTokenAdmin(ViewAndDeleteOnly):
    """Login devices (a bearer token each; the token itself is never shown)."""

    list_display = ("device_id", "user", "device_name", "created", "last_used_at", "expiry")
    list_filter = ("created", "last_used_at")
    search_fields = ("user__username", "device_name", "=device_id")
    fields = readonly_fields = ("device_id", "user", "device_name", "created", "last_used_at", "expiry")
    list_select_related = ("user",)
    actions = ("revoke",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "revoke" instead: it also ends the device's sockets and push registrations

    @admin.action(description="Revoke the selected logins (sockets closed, push registrations removed)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[DeviceToken]) -> None:
        revoked = 0
        for token in queryset.select_related("user"):
            device_id = str(token.device_id)
            try:
                services.device_token_revoke(user=token.user, device_id=device_id)
            except ServiceError:
                continue  # revoked meanwhile (its owner logged out)
            audit(
                request,
                action="device_token.revoke",
                target_type="device_token",
                target_id=device_id,
                details={"user_id": token.user_id, "device_name": token.device_name},
            )
            revoked += 1
        self.message_user(request, f"Revoked {revoked} login(s).", messages.SUCCESS)
