"""The user model (custom from the start: AUTH_USER_MODEL = accounts.User)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    display_name = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return self.username
