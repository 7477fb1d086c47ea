"""Item 10: hardening. Files under /media/ are served by nginx with `nosniff` and a Content-Type
of their own (never sniffed, never HTML); avatars are re-encoded by Pillow, so no EXIF (GPS,
comments) or payload appended after the image survives the upload; /healthz names what is down
without echoing any exception text; Redis and Cassandra clients take credentials and TLS from
settings (off locally)."""

from __future__ import annotations

import http.client
import io
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.security.conftest import register
from tests.stack import Stack

AVATAR = "/api/v1/me/avatar"
PAYLOAD = b"<script>alert('stored')</script>PK\x03\x04 payload after the image"
SECRET = "secret GPS 51.5007N 0.1246W"


def _jpeg_with_exif_and_payload() -> bytes:
    """A JPEG carrying EXIF (a comment and GPS data) and bytes appended after its end."""
    image = Image.new("RGB", (16, 16), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010E] = SECRET  # ImageDescription
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 2.0)}  # GPS IFD
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), comment=SECRET.encode())
    return buffer.getvalue() + PAYLOAD


def _png_with_text_and_payload() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET)
    buffer = io.BytesIO()
    Image.new("RGBA", (16, 16), (200, 30, 30, 255)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue() + PAYLOAD


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [("me.jpg", _jpeg_with_exif_and_payload, "JPEG"), ("me.png", _png_with_text_and_payload, "PNG")],
)
def test_avatars_are_reencoded(
    alice: Any, api_client_for: Any, settings: Any, tmp_path: Path, name: str, make: Any, kind: str
) -> None:
    """The stored avatar is a fresh encoding of the pixels: no EXIF, GPS, text chunk, comment or
    trailing payload of the upload is in it, and it is still the same kind of image."""
    settings.MEDIA_ROOT = tmp_path
    upload = make()
    response = api_client_for(alice).post(AVATAR, {"avatar": SimpleUploadedFile(name, upload)})
    assert response.status_code == 200, response.content
    stored = (tmp_path / response.json()["avatar_url"].removeprefix("/media/")).read_bytes()
    assert stored != upload
    assert PAYLOAD not in stored
    assert SECRET.encode() not in stored
    assert b"Exif" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == kind
    assert image.size == (16, 16)
    assert not image.getexif()
    assert "Comment" not in image.info
    assert "comment" not in image.info


@pytest.mark.django_db
def test_avatar_that_pillow_cannot_decode_is_refused(
    alice: Any, api_client_for: Any, settings: Any, tmp_path: Path
) -> None:
    """A truncated image (a valid header, no pixels) is a 400 on `avatar`, nothing is stored."""
    settings.MEDIA_ROOT = tmp_path
    truncated = _png_with_text_and_payload()[:60]
    response = api_client_for(alice).post(AVATAR, {"avatar": SimpleUploadedFile("me.png", truncated)})
    assert response.status_code == 400
    assert "avatar" in response.json()["error"]["fields"]
    assert not any(tmp_path.rglob("*.png"))


@pytest.mark.django_db
def test_healthz_names_what_is_down_without_exception_text(client: Any, monkeypatch: Any) -> None:
    """A failing check is reported as `down` by name; its exception text (addresses, passwords,
    driver internals) is logged, never sent."""
    from chatproject import health

    def broken() -> None:
        raise ConnectionError("redis://:hunter2@10.0.0.5:6380/0 refused (driver internals)")

    monkeypatch.setitem(health.CHECKS, "redis", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body == {"status": "unavailable", "checks": {"postgres": "ok", "redis": "down", "cassandra": "ok"}}
    assert b"hunter2" not in response.content
    assert b"10.0.0.5" not in response.content
    assert b"ConnectionError" not in response.content


def test_redis_clients_take_password_and_tls(settings: Any, tmp_path: Path) -> None:
    """REDIS_PASSWORD and REDIS_TLS reach every Redis client: the URL of Celery, the channel layer
    and the cache (rediss, certificate required) and the process's own clients."""
    from chatproject.redis_client import get_redis, redis_reset, redis_url
    from chatproject.settings.env import redis_url_build

    url = redis_url_build(host="redis.internal", port=6380, db=2, password="p@ss/word", tls=True, ca_certs="")
    assert url == "rediss://:p%40ss%2Fword@redis.internal:6380/2?ssl_cert_reqs=required"
    assert redis_url_build(host="127.0.0.1", port=6380, db=0, password="", tls=False, ca_certs="") == (
        "redis://127.0.0.1:6380/0"
    )
    ca = tmp_path / "ca.pem"
    assert redis_url_build(host="h", port=1, db=0, password="", tls=True, ca_certs=str(ca)).endswith(
        f"?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    )
    settings.REDIS_HOST = "redis.internal"
    settings.REDIS_PASSWORD = "p@ss/word"
    settings.REDIS_TLS = True
    try:
        assert redis_url().startswith("rediss://:p%40ss%2Fword@redis.internal:")
        pool = get_redis().connection_pool
        assert pool.connection_kwargs["password"] == "p@ss/word"
        assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
        assert pool.connection_class.__name__ == "SSLConnection"
    finally:
        redis_reset()


def test_cassandra_cluster_takes_credentials_and_tls(settings: Any, monkeypatch: Any) -> None:
    """CASSANDRA_USERNAME/PASSWORD give the driver a plain-text auth provider (SASL over the
    native protocol), CASSANDRA_TLS a verifying SSL context; locally neither is set."""
    from chat.store.cassandra import session

    built: dict[str, Any] = {}

    class NoCluster:
        def __init__(self, **kwargs: Any) -> None:
            built.update(kwargs)

        def connect(self) -> None:
            raise ConnectionError("not connecting in this test")

        def shutdown(self) -> None:
            pass

    monkeypatch.setattr(session, "Cluster", NoCluster)
    settings.CASSANDRA_USERNAME = "chat"
    settings.CASSANDRA_PASSWORD = "s3cret"
    settings.CASSANDRA_TLS = True
    with pytest.raises(ConnectionError):
        session._connect()
    assert built["auth_provider"].username == "chat"
    assert built["auth_provider"].password == "s3cret"
    context = built["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    built.clear()
    settings.CASSANDRA_USERNAME = ""
    settings.CASSANDRA_PASSWORD = ""
    settings.CASSANDRA_TLS = False
    with pytest.raises(ConnectionError):
        session._connect()
    assert built.get("auth_provider") is None
    assert built.get("ssl_context") is None


def _get(port: int, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_media_is_served_with_nosniff_and_its_own_type(security_stack: Stack) -> None:
    """Through nginx: an uploaded avatar comes back re-encoded as image/png with nosniff; a file
    under media/ that is not an allowed image kind (HTML, SVG, no extension) is never text/html
    or image/svg+xml, always with nosniff and a sandboxing CSP."""
    account = register(security_stack, "media")
    body, boundary = _multipart("avatar", "me.png", _png_with_text_and_payload())
    connection = http.client.HTTPConnection("127.0.0.1", security_stack.lb_port, timeout=30)
    connection.request(
        "POST",
        AVATAR,
        body=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Bearer {account.token}",
        },
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200, answer
    served = _get(security_stack.lb_port, answer["avatar_url"])
    assert served.status == 200
    assert served.getheader("Content-Type") == "image/png"
    assert served.getheader("X-Content-Type-Options") == "nosniff"
    media = security_stack.var / "media"
    for name, content in (
        ("planted.html", b"<script>1</script>"),
        ("planted.svg", b"<svg/>"),
        ("planted", b"<html>"),
    ):
        (media / name).write_bytes(content)
        (media / name).chmod(0o644)
        served = _get(security_stack.lb_port, f"/media/{name}")
        assert served.status == 200, name
        assert served.getheader("Content-Type") == "application/octet-stream", name
        assert served.getheader("X-Content-Type-Options") == "nosniff", name
        assert "sandbox" in (served.getheader("Content-Security-Policy") or ""), name


def _multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "----chat-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, boundary
