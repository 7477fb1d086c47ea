"""django-axes hooks: who a login attempt counts against, and the lockout response.

Failures count against the normalised username — what login resolves it to, whatever its case
and surrounding spaces — and, separately, against the client address (`REMOTE_ADDR` as
`chatproject.proxies` settles it: forwarded headers only from the load balancer). A successful
login forgets only the failures of that username from that address: axes' own reset
(AXES_RESET_ON_SUCCESS) would also wipe every failure from the address, those against other
usernames included, so an attacker could interleave logins to an account of their own.

The lockout answer of the REST API is the project's one error body (`LockedOut`); the admin's
login form gets a plain-text 429.
"""

from __future__ import annotations

from typing import Any

from axes.utils import reset as axes_reset
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.exceptions import LockedOut
from accounts.models import User


def client_ip_address(request: HttpRequest) -> str | None:
    """The client address (`chatproject.proxies.ClientAddressMiddleware` has settled it)."""
    return request.META.get("REMOTE_ADDR") or None


def lockout_username_key(identifier: str) -> str:
    """One key per account however its name is spelt: the account's own username when login
    would find it (case-insensitively), else the identifier; stripped and in lower case."""
    text = identifier.strip()
    canonical = User.objects.filter(username__iexact=text).values_list("username", flat=True).first()
    return (canonical or text).lower()


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """AXES_USERNAME_CALLABLE."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = request.POST.get("username")
    return lockout_username_key(str(raw or ""))


@receiver(user_logged_in, dispatch_uid="accounts.lockout.failures_forget_own")
def _failures_forget_own(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """A successful login forgets the failures of this username from this address, nothing else."""
    if request is None:
        return
    address = client_ip_address(request)
    if address:
        axes_reset(ip=address, username=lockout_username_key(user.get_username()))


def axes_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    error = LockedOut()
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(error.as_body(), status=error.http_status)
    else:
        response = HttpResponse(
            error.message, status=error.http_status, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = str(error.retry_after_seconds)
    return response
