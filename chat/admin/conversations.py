"""Conversations and memberships in the admin.

Renames, archiving and membership changes go through `chat.services` (`conversation_moderate_*`),
so they enter the members' change feeds and the chat servers' send rules, as a member's own
change does. Conversations are neither added nor deleted here: users create them, and an
operator archives one instead of deleting its history.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.models import User
from audit.admin import AuditedModelAdmin, audit
from chat import services
from chat.models import Conversation, ConversationKind, MemberRole, Membership


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200)


def membership_change_problem(
    *, conversation: Conversation, user: User | None, role: str, old: Membership | None, adding: int = 1
) -> str | None:
    """Why an operator's membership change cannot be made (None: it can), checked before the
    save so that the services it calls do not refuse it halfway. `old`: the membership changed
    (None: an addition); `adding`: how many members the same save adds."""
    if conversation.kind != ConversationKind.GROUP:
        return "The members of a direct conversation do not change."
    if old is None:
        if user is None or not user.is_active:
            return "Only an active user can be added."
        if Membership.objects.filter(conversation=conversation, user=user).exists():
            return f"{user.username} is a member already."
        if conversation.memberships.count() + adding > settings.CHAT_GROUP_MAX_MEMBERS:
            return f"A group has at most {settings.CHAT_GROUP_MAX_MEMBERS} members."
    elif user is not None and user.pk != old.user_id:
        return "A membership keeps its user: remove it and add the other user."
    elif old.role == MemberRole.OWNER and role != MemberRole.OWNER:
        return "The owner keeps the role: make another member the owner instead."
    return None


class MembershipFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        conversation = self.instance
        removed = [f for f in self.forms if f.instance.pk and f.cleaned_data.get("DELETE")]
        changed = [f for f in self.forms if f.has_changed() and not f.cleaned_data.get("DELETE")]
        if removed and conversation.kind != ConversationKind.GROUP:
            raise forms.ValidationError("The members of a direct conversation do not change.")
        adding = sum(1 for f in changed if not f.instance.pk)
        for form in changed:
            old = Membership.objects.filter(pk=form.instance.pk).first() if form.instance.pk else None
            problem = membership_change_problem(
                conversation=conversation,
                user=form.cleaned_data.get("user"),
                role=form.cleaned_data.get("role", MemberRole.MEMBER),
                old=old,
                adding=adding,
            )
            if problem:
                raise forms.ValidationError(problem)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    fields = ("user", "role", "muted", "joined_at", "last_read_message_id", "last_delivered_message_id")
    readonly_fields = ("muted", "joined_at", "last_read_message_id", "last_delivered_message_id")
    raw_id_fields = ("user",)


@admin.register(Conversation)
class ConversationAdmin(AuditedModelAdmin):
    list_display = ("id", "kind", "title", "member_count", "last_activity_at", "archived")
    list_filter = ("kind", ("archived_at", admin.EmptyFieldListFilter), "last_activity_at")
    search_fields = ("=id", "title", "memberships__user__username")
    ordering = ("-last_activity_at", "-id")
    fields = (
        "kind",
        "title",
        "owner",
        "direct_low",
        "direct_high",
        "created_at",
        "last_activity_at",
        "last_message_id",
        "archived_at",
    )
    readonly_fields = tuple(f for f in fields if f != "title")  # renames go through the service
    inlines = (MembershipInline,)
    actions = ("rename", "archive", "unarchive")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, conversation: Any) -> int:
        return int(conversation.member_count)

    @admin.display(description="archived", boolean=True, ordering="archived_at")
    def archived(self, conversation: Conversation) -> bool:
        return conversation.archived_at is not None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.kind == ConversationKind.DIRECT:
            return (*self.readonly_fields, "title")  # only a group has a title
        return self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # ---------------------------------------------------------------- saves through the services

    def save_model(self, request: HttpRequest, obj: Conversation, form: Any, change: bool) -> None:
        if change and "title" in form.changed_data:
            services.conversation_moderate_rename(conversation_id=obj.pk, title=form.cleaned_data["title"])

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Membership changes of the inline, each through its service (the change message that
        the audit entry of the save carries lists them)."""
        conversation = form.instance
        memberships = formset.save(commit=False)  # computes new, changed and deleted; saves nothing
        for membership in formset.deleted_objects:
            services.conversation_moderate_member_remove(
                conversation_id=conversation.pk, user_id=membership.user_id
            )
        for membership in memberships:
            _membership_save(membership, adding=membership.pk is None)

    # ---------------------------------------------------------------- actions

    @admin.action(description="Rename the selected group")
    def rename(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse | None:
        groups = list(queryset.filter(kind=ConversationKind.GROUP))
        if len(groups) != queryset.count() or not groups:
            self.message_user(request, "Only groups have a title; select groups only.", messages.ERROR)
            return None
        form = RenameForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for conversation in groups:
                old = conversation.title
                renamed = services.conversation_moderate_rename(
                    conversation_id=conversation.pk, title=form.cleaned_data["title"]
                )
                audit(
                    request,
                    action="conversation.rename",
                    target_type="conversation",
                    target_id=conversation.pk,
                    details={"from": old, "to": renamed.title},
                )
            self.message_user(request, f"Renamed {len(groups)} group(s).", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/chat/conversation/rename.html",
            {
                **self.admin_site.each_context(request),
                "title": "Rename groups",
                "opts": self.model._meta,
                "form": form,
                "conversations": groups,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    def _archive(self, request: HttpRequest, queryset: QuerySet[Conversation], *, archived: bool) -> None:
        changed = 0
        for conversation in queryset:
            if (conversation.archived_at is not None) == archived:
                continue
            services.conversation_moderate_archive(conversation_id=conversation.pk, archived=archived)
            audit(
                request,
                action="conversation.archive" if archived else "conversation.unarchive",
                target_type="conversation",
                target_id=conversation.pk,
                details={"title": conversation.title, "kind": conversation.kind},
            )
            changed += 1
        verb = "Archived" if archived else "Restored"
        self.message_user(request, f"{verb} {changed} conversation(s).", messages.SUCCESS)

    @admin.action(description="Archive the selected conversations (history stays, sends are refused)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._archive(request, queryset, archived=True)

    @admin.action(description="Restore the selected archived conversations")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._archive(request, queryset, archived=False)


def _membership_save(membership: Membership, *, adding: bool) -> None:
    """An addition or a role change of the admin, through the services."""
    if adding:
        created, _ = services.conversation_moderate_member_add(
            conversation_id=membership.conversation_id, user_id=membership.user_id
        )
        membership.pk = created.pk
        if membership.role == MemberRole.MEMBER:
            return
    services.conversation_moderate_role_set(
        conversation_id=membership.conversation_id, user_id=membership.user_id, role=membership.role
    )


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("conversation", "user", "role")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        conversation = data.get("conversation") or (self.instance.conversation if self.instance.pk else None)
        if conversation is not None:
            problem = membership_change_problem(
                conversation=conversation,
                user=data.get("user") or (self.instance.user if self.instance.pk else None),
                role=data.get("role", MemberRole.MEMBER),
                old=Membership.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None,
            )
            if problem:
                raise forms.ValidationError(problem)
        return data


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    form = MembershipForm
    list_display = ("id", "conversation", "user", "role", "muted", "joined_at")
    list_filter = ("role", "muted", "conversation__kind")
    search_fields = ("=conversation__id", "user__username", "conversation__title")
    raw_id_fields = ("conversation", "user")
    list_select_related = ("conversation", "user")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        read = ("muted", "joined_at", "last_read_message_id", "last_delivered_message_id")
        return (*read, "conversation", "user") if obj is not None else read

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ("conversation", "user", "role")
        return (
            (*fields, "muted", "joined_at", "last_read_message_id", "last_delivered_message_id")
            if obj
            else fields
        )

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not change or "role" in form.changed_data:
            _membership_save(obj, adding=not change)

    def perform_delete(self, request: HttpRequest, obj: Membership) -> None:
        services.conversation_moderate_member_remove(conversation_id=obj.conversation_id, user_id=obj.user_id)
