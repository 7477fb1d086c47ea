"""Pages of the browser UI (issue 11): the sign-in and sign-up pages and the one-page chat app.

The pages are shells: the forms post to the REST API (`auth/login`, `auth/register` with
`"session": true`) and the app talks to the same REST and WebSocket contract as mobile clients
(static/web/js/). Views here only decide which template a visitor gets; no business logic.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

SERVICE_WORKER = settings.BASE_DIR / "static" / "web" / "sw.js"


def _next_url(request: HttpRequest) -> str:
    target = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if safe and target.startswith("/") else "/"


@require_GET
@never_cache
@ensure_csrf_cookie
def app_page(request: HttpRequest, **_route: object) -> HttpResponse:
    """The chat app: conversation list, chat view, mentions, people, settings (client routing)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="web-login")
    context = {
        "heartbeat_ms": int(settings.PRESENCE_HEARTBEAT_INTERVAL * 1000),
        "max_body": settings.CHAT_MESSAGE_MAX_LENGTH,
    }
    return render(request, "web/app.html", context)


@require_GET
@never_cache
@ensure_csrf_cookie
def login_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    return render(request, "web/login.html", {"next": _next_url(request)})


@require_GET
@never_cache
@ensure_csrf_cookie
def register_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("/")
    return render(request, "web/register.html")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The Web Push service worker, served from the root so that its scope is the whole app."""
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
