"""Errors are values of the protocol (STYLE.md rule 6).

Services raise a `ServiceError` subclass; this module maps it, in one place, to the REST error
body `{"error": {"code", "message", "fields"}}` with its HTTP status, and (for the WebSocket
protocol) to an `error` frame with the same `code`. DRF's own exceptions (validation, auth,
throttling, 404) are reshaped into the same body.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from redis import exceptions as redis_exceptions
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ServiceError(Exception):
    """A domain error with a stable protocol code."""

    code: str = "bad_request"
    frame_code: str | None = None
    http_status: int = status.HTTP_400_BAD_REQUEST
    default_message = "The request is not valid."
    # a 429 or 503 says when to try again (the Retry-After header, in seconds)
    retry_after_seconds: int = 1

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None) -> None:
        self.message = message or self.default_message
        self.fields = fields or {}
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}

    def as_frame(self, ref: str | None = None) -> dict[str, Any]:
        """The WebSocket `error` frame of DESIGN.md §3.2 (its code may be the broader
        `frame_code`: the protocol folds "blocked" and "not a member" into `forbidden`)."""
        return {"type": "error", "code": self.frame_code or self.code, "message": self.message, "ref": ref}


class BadRequest(ServiceError):
    pass


class ValidationFailed(ServiceError):
    code = "invalid"
    default_message = "Some fields are not valid."


class NotFound(ServiceError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND
    default_message = "Not found."


class Forbidden(ServiceError):
    code = "forbidden"
    frame_code = "forbidden"
    http_status = status.HTTP_403_FORBIDDEN
    default_message = "You may not do this."


class Conflict(ServiceError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT
    default_message = "This conflicts with the current state."


class TooLarge(ServiceError):
    code = "too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_message = "Too large."


class RateLimited(ServiceError):
    code = "rate_limited"
    http_status: int = status.HTTP_429_TOO_MANY_REQUESTS
    default_message = "Too many requests; slow down."

    def __init__(self, message: str | None = None, *, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms
        if retry_after_ms is not None:
            self.retry_after_seconds = max(1, -(-retry_after_ms // 1000))

    def as_frame(self, ref: str | None = None) -> dict[str, Any]:
        frame = super().as_frame(ref)
        if self.retry_after_ms is not None:
            frame["retry_after_ms"] = self.retry_after_ms
        return frame


class Unavailable(ServiceError):
    """A service the request needs (Redis) could not be reached or did not answer in time."""

    code = "unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_message = (
        "A service this request needs is unavailable; try again shortly (a message: send it again "
        "with the same client_msg_id)."
    )


# what a backing service's failure means to a client; the message store raises its own
# `unavailable` (chat.domain.errors.MessageStoreUnavailable) for Cassandra
_UNAVAILABLE: tuple[type[Exception], ...] = (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)


def service_error_of(exc: Exception) -> ServiceError | None:
    """The protocol error that an exception raised while handling a request stands for: itself
    if it is one, `unavailable` when Redis was unreachable or too slow (a connection that broke
    mid-request), None for anything else, a bug (`internal`)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable()
    return None


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail → {field: [messages]} (nested paths joined by '.')."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


_DRF_CODES: dict[type[Exception], str] = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ParseError: "bad_request",
}


# nginx's client_max_body_size: it buffers a body up to this whole before passing it on
_DISCARD_MAX = 10 * 1024 * 1024


def _discard_body(request: Any) -> None:
    """Read and drop a refused body that the load balancer is sending: a server that answers
    while the load balancer is still writing the body, then closes, makes it answer 502 instead
    of our 413. Only bodies the load balancer lets through (it buffers them whole, so they arrive
    at once); one announced larger reached this server directly and is not waited for."""
    django_request = getattr(request, "_request", request)
    stream = getattr(django_request, "_stream", None)
    try:
        announced = int(getattr(django_request, "META", {}).get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if stream is None or announced > _DISCARD_MAX:
        return
    try:
        while stream.read(65536):
            pass
    except OSError:
        return


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: every 4xx leaves the API in the one error body; Redis unreachable
    mid-request is a 503 `unavailable` (`service_error_of`), as on the WebSocket."""
    exc = service_error_of(exc) or exc
    if isinstance(exc, ServiceError):
        answer = Response(exc.as_body(), status=exc.http_status)
        if exc.http_status in (status.HTTP_429_TOO_MANY_REQUESTS, status.HTTP_503_SERVICE_UNAVAILABLE):
            answer["Retry-After"] = str(exc.retry_after_seconds)
        return answer
    if isinstance(exc, RequestDataTooBig):  # DATA_UPLOAD_MAX_MEMORY_SIZE, checked on Content-Length
        _discard_body(context.get("request"))
        error = TooLarge(f"The body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")
        return Response(error.as_body(), status=error.http_status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        body = {
            "error": {
                "code": "invalid",
                "message": "Some fields are not valid.",
                "fields": _flatten(exc.detail),
            }
        }
    else:
        assert isinstance(exc, drf_exceptions.APIException)
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), str(exc.default_code))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = {"error": {"code": code, "message": str(detail), "fields": {}}}
    response.data = body
    if response.status_code == status.HTTP_429_TOO_MANY_REQUESTS and "Retry-After" not in response:
        response["Retry-After"] = "1"  # DRF leaves it out when the wait rounds to 0
    return response


def api_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: a path under /api/ that matches no URL gets the error body too."""
    if request.path.startswith("/api/"):
        return JsonResponse(NotFound().as_body(), status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception)


# the error body in the OpenAPI schema (component `Error`); `ERROR_SCHEMA` refers to it
ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
ERROR_SCHEMA: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
