from typing import Any

from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        user_logged_out.connect(_device_logged_out, dispatch_uid="presence-logout")


def _device_logged_out(*, user: Any, request: Any, **_: Any) -> None:
    """Logout through the API tells presence (design note §4.4)."""
    from accounts.selectors import device_id_for_request
    from presence.services import presence_device_logged_out

    if user is None or request is None:
        return
    try:
        device_id = device_id_for_request(request)
    except ValueError:
        return
    presence_device_logged_out(user_id=int(user.pk), device_id=device_id)
