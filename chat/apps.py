from typing import Any

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # connects the setting_changed receiver that resets the Cassandra session
        from accounts.signals import blocks_changed, device_logins_ended
        from chat.store.cassandra import session  # noqa: F401

        device_logins_ended.connect(_close_device_sockets, dispatch_uid="chat-device-logins-ended")
        blocks_changed.connect(_blocks_changed, dispatch_uid="chat-blocks-changed")


def _blocks_changed(*, blocker_id: int, blocked_id: int, **_: Any) -> None:
    """Blocks change rarely: every cached send rule is evicted; the blocker's feed learns
    whether their direct conversation with the other user can take messages."""
    from chat.fanout import send_rules_changed
    from chat.services import direct_block_announce

    send_rules_changed(conversation_ids=None)
    direct_block_announce(blocker_id=blocker_id, other_id=blocked_id)


def _close_device_sockets(
    *, user_id: int, device_ids: list[str] | None, except_device: str | None, **_: Any
) -> None:
    from chat.fanout import device_sockets_close, send_rules_changed

    device_sockets_close(user_id=user_id, device_ids=device_ids, except_device=except_device)
    if device_ids is None and except_device is None:  # every login ended: perhaps a deactivation
        send_rules_changed(conversation_ids=None)  # cached rules still say the user may send
