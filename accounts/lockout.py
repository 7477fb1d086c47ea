"""django-axes hooks: the client address it counts failures by, and the lockout response.

The lockout answer of the REST API is the project's one error body (`LockedOut`); the admin's
login form gets a plain-text 429.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.throttling import BaseThrottle

from accounts.exceptions import LockedOut


def client_ip_address(request: HttpRequest) -> str | None:
    """The client address as DRF's throttling sees it, so that both count the same client."""
    ident = BaseThrottle().get_ident(request)  # type: ignore[arg-type]
    return str(ident) if ident else None


def axes_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    error = LockedOut()
    if request.path.startswith("/api/"):
        return JsonResponse(error.as_body(), status=error.http_status)
    return HttpResponse(error.message, status=error.http_status, content_type="text/plain; charset=utf-8")
