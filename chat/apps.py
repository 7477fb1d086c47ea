from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # connects the setting_changed receiver that resets the Cassandra session
        from chat.cql import session  # noqa: F401
