"""Push registrations of users' devices (DESIGN.md §3.1 `devices`, §4 "Push notifications").

A Web Push device is a browser's push subscription: the push service's endpoint URL and the
keys the payload is encrypted to (RFC 8291). FCM and APNs devices are a token each; they are
stored so that a sender with credentials can reach them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Device(models.Model):
    class Kind(models.TextChoices):
        WEBPUSH = "webpush", "Web Push"
        FCM = "fcm", "Firebase Cloud Messaging"
        APNS = "apns", "Apple Push Notification service"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # Web Push: the subscription (empty for FCM/APNs)
    endpoint = models.CharField(max_length=2048, blank=True, default="")
    p256dh = models.CharField(max_length=100, blank=True, default="")
    auth = models.CharField(max_length=32, blank=True, default="")
    # FCM/APNs: the registration token (empty for Web Push)
    token = models.CharField(max_length=1024, blank=True, default="")
    # the device login that registered it (`token:<uuid>` or `session:<key>`): when that login ends
    # (logout, revoke, password change, deactivation) the registration goes with it
    login_device = models.CharField(max_length=80, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "endpoint"],
                condition=models.Q(kind="webpush"),
                name="notifications_device_unique_endpoint",
            ),
            models.UniqueConstraint(
                fields=["user", "kind", "token"],
                condition=~models.Q(kind="webpush"),
                name="notifications_device_unique_token",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="webpush") & ~models.Q(endpoint="") & models.Q(token=""))
                | (models.Q(kind__in=["fcm", "apns"]) & models.Q(endpoint="") & ~models.Q(token="")),
                name="notifications_device_kind_fields",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} device {self.pk} of user {self.user_id}"
