"""Content-Security-Policy on every response (DESIGN.md §5, Security).

Pages of the browser UI load scripts, styles, images and workers from this origin only; no inline
script or style runs anywhere, so user text that slipped into markup could still not execute.
WebSockets go to the load balancer's origin (`ws:`/`wss:` of the page's host) and to the `ws:`/`wss:`
twins of CHAT_ALLOWED_ORIGINS (a page opened as localhost:8000 is handed a 127.0.0.1:8000 socket).
The API explorer (Swagger UI) is the one page that needs more: its assets come from a CDN and its
template carries an inline style block, so it gets its own, wider policy (still no inline script:
the split view serves its start-up script as a file) rather than weakening the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

BASE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self'",
    "worker-src": "'self'",
    "manifest-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# drf-spectacular's Swagger UI: assets from jsDelivr and an inline <style> in its template
API_DOCS_POLICY = {
    **BASE_POLICY,
    "script-src": "'self' https://cdn.jsdelivr.net",
    "style-src": "'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "img-src": "'self' data: https://cdn.jsdelivr.net",
}


def _serialise(policy: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def content_security_policy(request: HttpRequest) -> str:
    """The policy for a request: WebSockets to the page's own host and to the allowed page origins."""
    policy = API_DOCS_POLICY if request.path.startswith("/api/docs") else BASE_POLICY
    try:
        host = request.get_host()
    except DisallowedHost:  # answered 400 by Django; the policy then allows only this origin
        host = ""
    hosts = [host] if host else []
    hosts += [urlsplit(origin).netloc for origin in settings.CHAT_ALLOWED_ORIGINS]
    connect = ["'self'"] + [f"{scheme}://{h}" for h in dict.fromkeys(hosts) for scheme in ("ws", "wss")]
    return _serialise({**policy, "connect-src": " ".join(connect)})


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = content_security_policy(request)
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("Referrer-Policy", "same-origin")
        return response
