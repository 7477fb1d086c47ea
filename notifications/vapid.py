"""The server's VAPID key pair (RFC 8292), which signs every Web Push request.

The private key comes from `WEBPUSH_VAPID_PRIVATE_KEY` (PEM, or the raw 32-byte scalar in
base64url). Left empty — locally — a key pair is generated once into `WEBPUSH_VAPID_KEY_FILE`
(under `var/`, never committed), so every process of the local stack signs with the same key.
Browsers subscribe with the public key, so it must not change while subscriptions live.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid

from chatproject.settings.secret_key import file_create_once


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """base64url with or without padding; raises ValueError on anything else."""
    stripped = text.rstrip("=")
    if not stripped or any(c not in _B64URL for c in stripped):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _key_from_setting(value: str) -> ec.EllipticCurvePrivateKey:
    text = value.strip().replace("\\n", "\n")
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        raw = b64url_decode(text)
        if len(raw) != 32:
            raise ValueError("WEBPUSH_VAPID_PRIVATE_KEY: a raw key is 32 bytes in base64url")
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("WEBPUSH_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
    return key


def _key_from_file(path: Path) -> ec.EllipticCurvePrivateKey:
    """Load the local key pair, generating it first if absent (a racing process keeps the winner's)."""
    if not path.exists():
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        file_create_once(path, pem)
    return _key_from_setting(path.read_text())


@lru_cache(maxsize=4)
def _private_key(setting: str, path: str) -> ec.EllipticCurvePrivateKey:
    return _key_from_setting(setting) if setting.strip() else _key_from_file(Path(path))


def vapid_private_key() -> ec.EllipticCurvePrivateKey:
    return _private_key(settings.WEBPUSH_VAPID_PRIVATE_KEY, str(settings.WEBPUSH_VAPID_KEY_FILE))


def vapid_signer() -> Vapid:
    """A py_vapid signer over the server's key, as pywebpush takes it."""
    return Vapid(private_key=vapid_private_key())


def vapid_public_key() -> str:
    """The public key as browsers' `applicationServerKey` wants it: uncompressed point, base64url."""
    point = (
        vapid_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url_encode(point)
