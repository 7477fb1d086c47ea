"""The chat service's Django project: settings, ASGI/WSGI entry points, the Celery app, URLs."""

from chatproject.celery import app as celery_app

__all__ = ("celery_app",)
