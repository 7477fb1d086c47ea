"""REST routes of push devices (mounted under /api/v1/)."""

from django.urls import path

from notifications import apis

urlpatterns = [
    path("devices", apis.DeviceListApi.as_view(), name="devices"),
    path("devices/vapid-public-key", apis.VapidPublicKeyApi.as_view(), name="devices-vapid-public-key"),
    path("devices/<id:device_id>", apis.DeviceDetailApi.as_view(), name="device"),
]
