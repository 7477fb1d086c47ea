"""URLs of the browser UI, at the root of the site."""

from __future__ import annotations

from django.urls import path

from web import views

urlpatterns = [
    path("", views.app_page, name="web-app"),
    path("c/<int:conversation_id>", views.app_page, name="web-conversation"),
    path("mentions", views.app_page, name="web-mentions"),
    path("people", views.app_page, name="web-people"),
    path("settings", views.app_page, name="web-settings"),
    path("login", views.login_page, name="web-login"),
    path("register", views.register_page, name="web-register"),
    path("sw.js", views.service_worker, name="web-service-worker"),
]
