"""The Django secret key: never a value written in the repository.

Production takes it from `DJANGO_SECRET_KEY` and refuses to start without one. Locally (and in
tests) an empty `DJANGO_SECRET_KEY` means a random key generated once into
`DJANGO_SECRET_KEY_FILE` (under `var/`, never committed) and reused by every process of the
stack, as the VAPID key is (`notifications/vapid.py`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

# the fallback this project once shipped: anyone could sign sessions and tickets with it
KNOWN_PUBLIC_KEYS = frozenset({"local-dev-only-not-a-secret"})
MIN_LENGTH = 32


def secret_key_check(value: str, *, source: str) -> str:
    """`value` if it is usable as a secret key; raise RuntimeError naming `source` otherwise."""
    if value.strip() in KNOWN_PUBLIC_KEYS:
        raise RuntimeError(f"{source} is a value published in this repository; set a random one")
    if len(value) < MIN_LENGTH:
        raise RuntimeError(f"{source} must be at least {MIN_LENGTH} characters")
    return value


def file_create_once(path: Path, content: bytes) -> None:
    """Create `path` (mode 600) holding `content` unless it exists. The content is written whole to
    a temporary file and linked into place, so a racing process either wins or keeps the winner's."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # per thread too
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def secret_key_load_or_create(path: Path) -> str:
    """The key in `path`, generated first if absent (every process of the stack then reads it)."""
    if not path.exists():
        file_create_once(path, secrets.token_urlsafe(50).encode())
    return secret_key_check(path.read_text().strip(), source=str(path))
