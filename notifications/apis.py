"""REST endpoints of push devices (DESIGN.md §3.1 `devices`): register, list, remove, and the
server's VAPID public key that browsers subscribe with."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.selectors import device_id_for_request
from notifications import selectors, services
from notifications.serializers import DeviceCreateInputSerializer, DeviceSerializer, VapidPublicKeySerializer
from notifications.vapid import vapid_public_key


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)  # every view here requires a login
    return user


class DeviceListApi(APIView):
    @extend_schema(
        tags=["devices"],
        responses={200: DeviceSerializer(many=True)},
        summary="My push registrations",
    )
    def get(self, request: Request) -> Response:
        devices = selectors.device_list_for_user(user=_user(request))
        return Response(DeviceSerializer(devices, many=True).data)

    @extend_schema(
        tags=["devices"],
        request=DeviceCreateInputSerializer,
        responses={
            201: DeviceSerializer,
            200: OpenApiResponse(DeviceSerializer, description="Already registered: the same device."),
        },
        summary="Register this device for push notifications (a Web Push subscription, or an FCM/APNs token)",
    )
    def post(self, request: Request) -> Response:
        data = DeviceCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        subscription = values.get("subscription") or {"endpoint": "", "keys": {"p256dh": "", "auth": ""}}
        device, created = services.device_register(
            user=_user(request),
            login_device=device_id_for_request(request),
            kind=values["kind"],
            endpoint=subscription["endpoint"],
            p256dh=subscription["keys"]["p256dh"],
            auth=subscription["keys"]["auth"],
            token=values.get("token", ""),
        )
        return Response(
            DeviceSerializer(device).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DeviceDetailApi(APIView):
    @extend_schema(
        tags=["devices"], responses={204: None}, summary="Stop push notifications to one of my devices"
    )
    def delete(self, request: Request, device_id: int) -> Response:
        services.device_delete(user=_user(request), device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VapidPublicKeyApi(APIView):
    @extend_schema(
        tags=["devices"],
        responses={200: VapidPublicKeySerializer},
        summary="The server's VAPID public key (the applicationServerKey to subscribe with)",
    )
    def get(self, request: Request) -> Response:
        return Response(VapidPublicKeySerializer({"public_key": vapid_public_key()}).data)
