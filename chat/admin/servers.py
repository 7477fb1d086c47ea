"""The chat servers of the discovery registry in the admin: a read-only list of the live entries
and a "drain" button per server, which asks that server to drain as SIGTERM would
(`chat.discovery.chat_server_drain`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from audit.admin import audit
from chat.discovery import NoChatServer, chat_server_drain, chat_servers_live

URL_NAME = "chat_servers"


@require_http_methods(["GET", "POST"])
def chat_servers_view(request: HttpRequest) -> HttpResponse:
    """GET: the live chat servers; POST `server_id`: drain that server."""
    if request.method == "POST":
        server_id = request.POST.get("server_id", "")
        before = {s.id: s for s in chat_servers_live()}.get(server_id)
        try:
            chat_server_drain(server_id=server_id)
        except NoChatServer as error:
            messages.error(request, error.message)
        else:
            audit(
                request,
                action="chat_server.drain",
                target_type="chat_server",
                target_id=server_id,
                details={"url": before.url, "region": before.region, "connections": before.connections}
                if before
                else {},
            )
            messages.success(
                request,
                f"Chat server {server_id} is draining: its clients reconnect elsewhere, then it stops.",
            )
        return HttpResponseRedirect(reverse(f"admin:{URL_NAME}"))
    servers = chat_servers_live()
    return TemplateResponse(
        request,
        "admin/chat/servers.html",
        {
            **admin.site.each_context(request),
            "title": "Chat servers",
            "servers": servers,
            "total_connections": sum(s.connections for s in servers),
            "total_capacity": sum(s.capacity for s in servers),
        },
    )


admin.site.register_view(  # type: ignore[attr-defined]
    route="operations/chat-servers/",
    view=chat_servers_view,
    name=URL_NAME,
    title="Chat servers",
    permission="audit.drain_chat_server",
)
