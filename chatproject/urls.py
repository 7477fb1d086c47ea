"""URL map: the REST API under /api/v1/, its OpenAPI schema and docs, admin, health, browser UI."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from chatproject.health import healthz
from chatproject.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # scraped on each API server's own port; the load balancer answers it with 404
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves its start-up script as a file: no inline script (web/middleware.py)
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("chat.api.urls")),
    path("api/v1/", include("presence.urls")),
    path("api/v1/", include("notifications.urls")),
    # the browser UI (pages at the root: /, /login, /register, /c/<id>, ...)
    path("", include("web.urls")),
]

handler404 = "chatproject.errors.api_not_found"
