"""Message moderation in the admin: find a message by conversation and ID, or a user's messages
in a conversation (read from Cassandra through `chat.selectors`), and delete one: it becomes a
tombstone on every device, as the sender's own delete does (`message_moderate_delete`).

The audit entry keeps who deleted which message of whom and why, not the deleted text."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from accounts.models import User
from audit.admin import audit
from chat import selectors, services
from chat.domain.records import StoredMessage
from chatproject.errors import ServiceError

URL_NAME = "chat_moderation"
SENDER_RESULTS = 50  # messages of a user shown at most
SENDER_SCAN = 2000  # newest messages of the conversation looked through for them


class FindForm(forms.Form):
    conversation_id = forms.IntegerField(min_value=1, label="Conversation ID")
    message_id = forms.IntegerField(min_value=1, required=False, label="Message ID")
    username = forms.CharField(required=False, label="or the sender's username")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("message_id") and not data.get("username"):
            raise forms.ValidationError("Give a message ID or a username.")
        return data


class DeleteForm(forms.Form):
    conversation_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    message_id = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, label="Reason (kept in the audit log)")


def _find(form: FindForm) -> tuple[list[StoredMessage], str]:
    """The messages the search names, and a note on what was searched."""
    conversation_id = form.cleaned_data["conversation_id"]
    if message_id := form.cleaned_data.get("message_id"):
        found = selectors.message_find(conversation_id=conversation_id, message_id=message_id)
        return ([found] if found else []), ""
    sender = User.objects.filter(username__iexact=form.cleaned_data["username"]).first()
    if sender is None:
        return [], "No such user."
    found_all, more = selectors.messages_find_by_sender(
        conversation_id=conversation_id, sender_id=sender.pk, limit=SENDER_RESULTS, scan=SENDER_SCAN
    )
    note = f"Only the newest {SENDER_SCAN} messages of the conversation were searched." if more else ""
    return found_all, note


def _delete(request: HttpRequest) -> HttpResponse:
    form = DeleteForm(request.POST)
    back = reverse(f"admin:{URL_NAME}")
    if not form.is_valid():
        messages.error(request, "A deletion needs a reason.")
        query = {k: request.POST.get(k, "") for k in ("conversation_id", "message_id")}
        return HttpResponseRedirect(f"{back}?{urlencode(query)}")
    conversation_id, message_id = form.cleaned_data["conversation_id"], form.cleaned_data["message_id"]
    try:
        tombstone = services.message_moderate_delete(conversation_id=conversation_id, message_id=message_id)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        audit(
            request,
            action="message.delete",
            target_type="message",
            target_id=message_id,
            details={
                "conversation_id": conversation_id,
                "sender_id": tombstone.sender_id,
                "reason": form.cleaned_data["reason"],
            },
        )
        messages.success(request, f"Message {message_id} is deleted on every device.")
    return HttpResponseRedirect(
        f"{back}?{urlencode({'conversation_id': conversation_id, 'message_id': message_id})}"
    )


@require_http_methods(["GET", "POST"])
def moderation_view(request: HttpRequest) -> HttpResponse:
    """GET: the search form and what it found; POST: delete one message."""
    if request.method == "POST":
        return _delete(request)
    form = FindForm(request.GET if request.GET else None)
    found: list[StoredMessage] = []
    note = ""
    if form.is_valid():
        found, note = _find(form)
    senders = {u.pk: u.username for u in User.objects.filter(pk__in={m.sender_id for m in found})}
    results = [
        {
            "message": m,
            "sender": senders.get(m.sender_id, f"#{m.sender_id}"),
            "delete_form": None
            if m.deleted
            else DeleteForm(initial={"conversation_id": m.conversation_id, "message_id": m.id}),
        }
        for m in found
    ]
    return TemplateResponse(
        request,
        "admin/chat/moderation.html",
        {
            **admin.site.each_context(request),
            "title": "Message moderation",
            "form": form,
            "searched": form.is_bound and form.is_valid(),
            "results": results,
            "note": note,
        },
    )


admin.site.register_view(  # type: ignore[attr-defined]
    route="operations/messages/",
    view=moderation_view,
    name=URL_NAME,
    title="Message moderation",
    permission="audit.moderate_message",
)
