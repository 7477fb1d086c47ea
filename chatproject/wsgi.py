"""WSGI entry point of the API servers (gunicorn behind the load balancer)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings.local")

application = get_wsgi_application()
