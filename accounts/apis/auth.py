"""REST endpoints of auth and devices: register, login (which hands out a chat server), logout,
password change, the CSRF cookie, the logged-in devices."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.apis.base import Pagination, request_user
from accounts.models import DeviceToken
from accounts.serializers import (
    AuthResultSerializer,
    DeviceTokenSerializer,
    LoginInputSerializer,
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
)
from chat.discovery import chat_assignment_for_login


def _device_token(request: Request) -> DeviceToken | None:
    return request.auth if isinstance(request.auth, DeviceToken) else None


def auth_response_body(
    *, request: Request, result: services.LoginResult, region: str | None = None
) -> dict[str, Any]:
    """The body of register and login: the user, the device's token, and service discovery's
    answer (design note §4.1): the chat server to connect to and a connect ticket for it."""
    if result.token is not None:
        device_id = f"token:{result.token.device_id}"
    else:
        device_id = selectors.device_id_for_request(request._request)
    body: dict[str, object] = {"user": result.user, "token": result.raw_token}
    body.update(chat_assignment_for_login(user_id=result.user.pk, device_id=device_id, region=region))
    return AuthResultSerializer(body, context={"request": request}).data


def _enforce_csrf(request: Request) -> None:
    # a session login is a state change made with the browser's cookies: CSRF applies to it too
    SessionAuthentication().enforce_csrf(request)


class RegisterApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        request=RegisterInputSerializer,
        responses={201: AuthResultSerializer},
        summary="Create an account and log this device in",
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if params["session"]:
            _enforce_csrf(request)
        services.user_register(
            username=params["username"],
            email=params["email"],
            password=params["password"],
            display_name=params["display_name"],
        )
        result = _login(request, identifier=params["username"], password=params["password"], params=params)
        return Response(
            auth_response_body(request=request, result=result, region=params.get("region")),
            status=status.HTTP_201_CREATED,
        )


def _login(
    request: Request, *, identifier: str, password: str, params: dict[str, Any]
) -> services.LoginResult:
    if params["session"]:
        return services.auth_login_session(identifier=identifier, password=password, request=request._request)
    return services.auth_login(
        identifier=identifier, password=password, device_name=params["device_name"], request=request._request
    )


class LoginApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        request=LoginInputSerializer,
        responses={200: AuthResultSerializer},
        summary="Log in with username or email; a bearer token for this device, or a browser session",
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        if params["session"]:
            _enforce_csrf(request)
        result = _login(request, identifier=params["username"], password=params["password"], params=params)
        return Response(auth_response_body(request=request, result=result, region=params.get("region")))


class LogoutApi(APIView):
    @extend_schema(tags=["auth"], request=None, responses={204: None}, summary="Log this device out")
    def post(self, request: Request) -> Response:
        services.auth_logout(
            user=request_user(request), token=_device_token(request), request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    @extend_schema(
        tags=["auth"],
        request=PasswordChangeInputSerializer,
        responses={204: None},
        summary="Change my password; every other device is logged out",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.auth_password_change(
            user=request_user(request),
            old_password=data.validated_data["old_password"],
            new_password=data.validated_data["new_password"],
            token=_device_token(request),
            request=request._request,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class CsrfApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        tags=["auth"],
        responses={200: inline_serializer("CsrfToken", {"csrf_token": serializers.CharField()})},
        summary="Set the CSRF cookie; browsers send its value as X-CSRFToken",
    )
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


class DeviceTokenListApi(generics.ListAPIView[DeviceToken]):
    serializer_class = DeviceTokenSerializer
    pagination_class = Pagination

    @extend_schema(tags=["auth"], summary="My logged-in devices (one bearer token each)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[DeviceToken]:
        return selectors.device_token_list(user=request_user(self.request))


class DeviceTokenRevokeApi(APIView):
    @extend_schema(tags=["auth"], responses={204: None}, summary="Log one of my devices out")
    def delete(self, request: Request, device_id: UUID) -> Response:
        services.device_token_revoke(user=request_user(request), device_id=str(device_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
