from typing import Any

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import device_login_renewed, device_logins_ended

        device_logins_ended.connect(_device_logins_ended, dispatch_uid="notifications-device-logins-ended")
        device_login_renewed.connect(_device_login_renewed, dispatch_uid="notifications-device-login-renewed")


def _device_logins_ended(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None, **_: Any
) -> None:
    """Push stops for the registrations the ended logins made."""
    from notifications.services import devices_of_logins_delete

    devices_of_logins_delete(user_id=user_id, login_devices=device_ids, except_device=except_device)


def _device_login_renewed(*, user_id: int, old_device_id: str, new_device_id: str, **_: Any) -> None:
    """The registrations of a login that goes on under a new id follow it."""
    from notifications.services import devices_of_login_renew

    devices_of_login_renew(user_id=user_id, old_login_device=old_device_id, new_login_device=new_device_id)
