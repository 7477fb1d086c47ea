"""Settings of the local stack that `make run` starts."""

from chatproject.settings.base import *  # noqa: F403
