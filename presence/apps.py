from typing import Any

from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import device_logins_ended

        device_logins_ended.connect(_device_logins_ended, dispatch_uid="presence-device-logins-ended")


def _device_logins_ended(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None, **_: Any
) -> None:
    """A logout through the API tells presence (design note §4.4)."""
    from presence.services import presence_devices_logged_out

    presence_devices_logged_out(user_id=user_id, device_ids=device_ids, except_device=except_device)
