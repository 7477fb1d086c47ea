"""Bearer authentication: `Authorization: Bearer <token>`, one knox token per device.

On success `request.auth` is the `DeviceToken` of the calling device. The token's `last_used_at`
is written at most once a minute so that authentication does not turn every read into a write.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from accounts.models import DeviceToken, User

LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, token: bytes) -> tuple[User, DeviceToken]:
        try:
            token.decode("ascii")
        except UnicodeDecodeError as exc:
            # knox decodes the header as UTF-8 itself; a non-ASCII token is never valid
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        user, device_token = super().authenticate_credentials(token)
        now = timezone.now()
        if device_token.last_used_at is None or now - device_token.last_used_at > LAST_USED_RESOLUTION:
            DeviceToken.objects.filter(pk=device_token.pk).update(last_used_at=now)
            device_token.last_used_at = now
        return user, device_token
