"""Users, profiles, settings, friends, blocks, per-device tokens (PostgreSQL)."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import (
            lockout,  # noqa: F401  (its user_logged_in receiver)
            schema,  # noqa: F401  (registers the OpenAPI auth extension)
        )
