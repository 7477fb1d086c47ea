"""URLs of presence under /api/v1/."""

from django.urls import path

from presence import apis

urlpatterns = [path("presence", apis.PresenceApi.as_view(), name="presence")]
