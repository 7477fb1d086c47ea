"""Input and output shapes of the push device endpoints (DESIGN.md §3.1 `devices`)."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from rest_framework import serializers

from chatproject.inputs import InputSerializer
from notifications.endpoints import EndpointRefused, endpoint_check_for_registration
from notifications.models import Device
from notifications.vapid import b64url_decode


def _base64url_bytes(value: str, *, size: int, what: str) -> bytes:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise serializers.ValidationError(f"{what} must be base64url.") from None
    if len(raw) != size:
        raise serializers.ValidationError(f"{what} must be {size} bytes.")
    return raw


class WebPushKeysSerializer(InputSerializer):
    p256dh = serializers.CharField(
        max_length=100, help_text="the browser's P-256 public key: uncompressed point, base64url"
    )
    auth = serializers.CharField(max_length=32, help_text="the 16-byte auth secret, base64url")

    def validate_p256dh(self, value: str) -> str:
        raw = _base64url_bytes(value, size=65, what="p256dh")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise serializers.ValidationError("p256dh is not a P-256 public key.") from None
        return value.rstrip("=")

    def validate_auth(self, value: str) -> str:
        _base64url_bytes(value, size=16, what="auth")
        return value.rstrip("=")


class WebPushSubscriptionSerializer(InputSerializer):
    """A browser's PushSubscription as `subscription.toJSON()` gives it."""

    endpoint = serializers.URLField(max_length=2048, help_text="the push service URL (https)")
    keys = WebPushKeysSerializer()

    def validate_endpoint(self, value: str) -> str:
        """https on a host that resolves only to public addresses (`notifications.endpoints`)."""
        try:
            endpoint_check_for_registration(value)
        except EndpointRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value


class DeviceCreateInputSerializer(InputSerializer):
    kind = serializers.ChoiceField(choices=Device.Kind.choices)
    subscription = WebPushSubscriptionSerializer(required=False, help_text="kind webpush only")
    token = serializers.RegexField(
        r"^[A-Za-z0-9_:.\-]+$",
        max_length=1024,
        required=False,
        help_text="kind fcm or apns only: the registration token",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == Device.Kind.WEBPUSH:
            if "subscription" not in attrs:
                raise serializers.ValidationError(
                    {"subscription": ["A webpush device needs its subscription."]}
                )
            if "token" in attrs:
                raise serializers.ValidationError({"token": ["A webpush device has no token."]})
        else:
            if "token" not in attrs:
                raise serializers.ValidationError({"token": ["An fcm or apns device needs its token."]})
            if "subscription" in attrs:
                raise serializers.ValidationError({"subscription": ["Only a webpush device has one."]})
        return attrs


class DeviceSerializer(serializers.ModelSerializer[Device]):
    endpoint = serializers.SerializerMethodField(help_text="webpush: the subscription's endpoint")
    token = serializers.SerializerMethodField(help_text="fcm, apns: the registration token")

    class Meta:
        model = Device
        fields = ["id", "kind", "endpoint", "token", "created_at", "last_success_at"]
        read_only_fields = fields

    def get_endpoint(self, device: Device) -> str | None:
        return device.endpoint or None

    def get_token(self, device: Device) -> str | None:
        return device.token or None


class VapidPublicKeySerializer(serializers.Serializer[dict[str, str]]):
    public_key = serializers.CharField(
        help_text="the VAPID public key (uncompressed P-256 point, base64url): applicationServerKey"
    )
