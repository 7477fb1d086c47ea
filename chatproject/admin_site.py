"""The project's admin site: Django's, plus pages that are not a model's (the chat servers of the
registry, message moderation), each behind a permission and listed on the index under
"Operations". Apps add theirs with `admin.site.register_view` (chat/admin/)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse

View = Callable[..., HttpResponse]


@dataclass(frozen=True)
class ExtraView:
    route: str  # under /admin/, e.g. "operations/chat-servers/"
    view: View
    name: str  # URL name, reversed as "admin:<name>"
    title: str
    permission: str  # e.g. "audit.drain_chat_server"


class ChatAdminSite(AdminSite):
    site_header = "Chat administration"
    site_title = "Chat admin"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self.extra_views: list[ExtraView] = []

    def register_view(self, *, route: str, view: View, name: str, title: str, permission: str) -> None:
        """Add an admin page: only staff with `permission` (superusers have all) may open it."""
        self.extra_views.append(
            ExtraView(route=route, view=view, name=name, title=title, permission=permission)
        )

    def _guarded(self, extra: ExtraView) -> View:
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(extra.permission):
                raise PermissionDenied
            return extra.view(request, *args, **kwargs)

        return self.admin_view(view)

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        extra = [path(e.route, self._guarded(e), name=e.name) for e in self.extra_views]
        return extra + super().get_urls()  # type: ignore[operator]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        pages = [e for e in self.extra_views if request.user.has_perm(e.permission)]
        if app_label is None and pages:
            apps.append(
                {
                    "name": "Operations",
                    "app_label": "operations",
                    "app_url": "",
                    "has_module_perms": True,
                    "models": [
                        {
                            "name": e.title,
                            "object_name": e.name,
                            "admin_url": reverse(f"{self.name}:{e.name}"),
                            "add_url": None,
                            "view_only": True,
                            "perms": {"view": True},
                        }
                        for e in pages
                    ],
                }
            )
        return apps


class ChatAdminConfig(AdminConfig):
    default_site = "chatproject.admin_site.ChatAdminSite"
