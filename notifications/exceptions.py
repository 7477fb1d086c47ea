"""Errors of the push notification server."""

from __future__ import annotations


class PushDeliveryFailed(Exception):
    """Some devices' push services failed in a way worth retrying; the pending notification is
    kept, and the send is scheduled again in `retry_in` seconds."""

    def __init__(self, *, device_ids: list[int], retry_in: float) -> None:
        self.device_ids = device_ids
        self.retry_in = retry_in
        super().__init__(f"push to devices {device_ids} failed; retry in {retry_in:.0f} s")
