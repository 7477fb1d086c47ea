"""Settings of the local stack that `make run` starts."""

from chatproject.settings.base import *  # noqa: F403
from chatproject.settings.base import DJANGO_SECRET_KEY_FILE, SECRET_KEY
from chatproject.settings.secret_key import secret_key_load_or_create

# empty DJANGO_SECRET_KEY: the random key generated once into var/, shared by the stack's processes
SECRET_KEY = SECRET_KEY or secret_key_load_or_create(DJANGO_SECRET_KEY_FILE)
