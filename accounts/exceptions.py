"""Domain errors of accounts, one type per error (mapped to the REST body by chatproject.errors)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import status

from chatproject.errors import Conflict, Forbidden, ServiceError


class InvalidCredentials(ServiceError):
    code = "invalid_credentials"
    http_status = status.HTTP_401_UNAUTHORIZED
    default_message = "The username/email or the password is wrong."


class LockedOut(ServiceError):
    code = "locked_out"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    default_message = "Too many failed logins; this account or address is locked for a while."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    default_message = "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken."


class UserBlocked(Forbidden):
    code = "blocked"
    default_message = "One of you has blocked the other."


class AlreadyFriends(Conflict):
    code = "already_friends"
    default_message = "You are already friends."


class FriendRequestPending(Conflict):
    code = "request_pending"
    default_message = "A friend request between you is already pending."


class FriendRequestNotPending(Conflict):
    code = "request_not_pending"
    default_message = "This friend request is no longer pending."
