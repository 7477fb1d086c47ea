from typing import Any

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import device_logins_ended

        device_logins_ended.connect(_device_logins_ended, dispatch_uid="notifications-device-logins-ended")


def _device_logins_ended(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None, **_: Any
) -> None:
    """Push stops for the registrations the ended logins made."""
    from notifications.services import devices_of_logins_delete

    devices_of_logins_delete(user_id=user_id, login_devices=device_ids, except_device=except_device)
