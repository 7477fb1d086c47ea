"""The one place that reads the environment.

Values come from the process environment first, then from `.env` at the project root, then from
the defaults written in the settings modules, which are the values documented in `.env.example`.
The shell scripts in `scripts/` resolve the same names the same way (environment, `.env`,
`.env.example`), so Django, Celery and the stack scripts agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values

BASE_DIR = Path(__file__).resolve().parent.parent.parent

_DOTENV = BASE_DIR / ".env"
_FILE_VALUES: dict[str, str] = (
    {k: v for k, v in dotenv_values(_DOTENV).items() if v is not None} if _DOTENV.exists() else {}
)


def env_str(name: str, default: str | None = None) -> str:
    """Return the setting `name` as a string; raise if it has no value and no default."""
    if name in os.environ:
        return os.environ[name]
    if name in _FILE_VALUES:
        return _FILE_VALUES[name]
    if default is None:
        raise RuntimeError(f"setting {name} is required (see .env.example)")
    return default


def env_int(name: str, default: int | None = None) -> int:
    raw = env_str(name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"setting {name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float | None = None) -> float:
    raw = env_str(name, None if default is None else str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"setting {name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    return env_str(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in env_str(name, default).split(",") if part.strip()]


def redis_url_build(*, host: str, port: int, db: int, password: str, tls: bool, ca_certs: str) -> str:
    """The Redis URL every client takes (redis-py, Celery's broker, channels-redis, the cache):
    `rediss://` with the certificate required when `tls`, the password when there is one."""
    auth = f":{quote(password, safe='')}@" if password else ""
    url = f"{'rediss' if tls else 'redis'}://{auth}{host}:{port}/{db}"
    if tls:
        url += "?ssl_cert_reqs=required" + (f"&ssl_ca_certs={quote(ca_certs, safe='/')}" if ca_certs else "")
    return url
