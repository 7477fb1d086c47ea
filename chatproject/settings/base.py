"""Every setting of the service, read from the environment through `settings.env`.

The settings of an area with many of them live in a module of their own, imported here in their
place: `stores` (PostgreSQL, Redis, Cassandra), `chat_servers`, `api` (the REST API) and
`observability` (logs and metrics). `local`, `test` and `production` import this module and change
only what differs between them.
"""

from __future__ import annotations

from pathlib import Path

from chatproject.settings.env import (
    BASE_DIR,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
)
from chatproject.settings.secret_key import secret_key_check

VAR_DIR = Path(env_str("CHAT_VAR_DIR", "var"))
if not VAR_DIR.is_absolute():
    VAR_DIR = BASE_DIR / VAR_DIR

# no usable default: production requires DJANGO_SECRET_KEY (settings.production); local and test
# settings generate a random key once into DJANGO_SECRET_KEY_FILE when it is empty
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if SECRET_KEY:
    secret_key_check(SECRET_KEY, source="DJANGO_SECRET_KEY")
# a relative path is under the project root
DJANGO_SECRET_KEY_FILE = BASE_DIR / env_str("DJANGO_SECRET_KEY_FILE", str(VAR_DIR / "django-secret-key"))
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "daphne",
    "chatproject.admin_site.ChatAdminConfig",  # Django's admin with the operations pages
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "channels",
    "accounts",
    "chat",
    "presence",
    "notifications",
    "audit",
    "web",
]

MIDDLEWARE = [
    # outermost: every request counted and timed (/metrics), its id in every log line it causes
    "chatproject.metrics.HttpMetricsMiddleware",
    "chatproject.logs.RequestIdMiddleware",
    # first: REMOTE_ADDR becomes the client's address (X-Forwarded-For only from TRUSTED_PROXIES)
    "chatproject.proxies.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # a Content-Security-Policy without inline scripts on every page (web/middleware.py)
    "web.middleware.ContentSecurityPolicyMiddleware",
    # last, as django-axes asks: it turns a login that tripped the lockout into the lockout response
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatproject.urls"
WSGI_APPLICATION = "chatproject.wsgi.application"
ASGI_APPLICATION = "chatproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- the stores: PostgreSQL (users, profiles, settings, friends, conversations), Redis (routing,
# presence, discovery registry, Celery broker, channel layer), Cassandra (chat history)
from chatproject.settings.stores import *  # noqa: E402, F403
from chatproject.settings.stores import REDIS_URL  # noqa: E402

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out username or IP before any password is checked
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
AVATAR_MAX_BYTES = env_int("AVATAR_MAX_BYTES", 2 * 1024 * 1024)

# --- Messages and conversations (chat/)
# Snowflake worker ids are leased from Redis for this long and renewed every third of it
SNOWFLAKE_LEASE_TTL_MS = env_int("SNOWFLAKE_LEASE_TTL_MS", 30_000)
# a clock step back up to this is waited out; a larger one refuses to issue IDs
SNOWFLAKE_MAX_CLOCK_BACKWARD_MS = env_int("SNOWFLAKE_MAX_CLOCK_BACKWARD_MS", 5_000)
CHAT_MESSAGE_MAX_LENGTH = env_int("CHAT_MESSAGE_MAX_LENGTH", 10_000)
CHAT_GROUP_MAX_MEMBERS = env_int("CHAT_GROUP_MAX_MEMBERS", 100)
# unread counts are exact up to this many messages, then shown as this number
CHAT_UNREAD_COUNT_CAP = env_int("CHAT_UNREAD_COUNT_CAP", 1_000)

# --- Celery: the message sync queue (`sync`) and the push notification server (`push`)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# a message not acknowledged within this many seconds is redelivered to another worker
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 60),
}
CELERY_TASK_DEFAULT_QUEUE = "sync"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# periodic sweeps on their own queues: the registry's on `sweep` (worker-sweep), presence's on
# `presence` (worker-presence, its announcements due every second); never behind sync batches
CELERY_TASK_ROUTES = {
    "chat.registry_sweep": {"queue": "sweep"},
    "presence.sweep": {"queue": "presence"},
    "presence.announce_due": {"queue": "presence"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # drop the discovery and routing entries of chat servers that died without deregistering
    "chat-registry-sweep": {"task": "chat.registry_sweep", "schedule": 10.0, "options": {"expires": 10}},
    # take offline the users whose sockets stopped sending heartbeats
    "presence-sweep": {
        "task": "presence.sweep",
        "schedule": env_float("PRESENCE_SWEEP_INTERVAL", 5.0),
        "options": {"expires": 5},
    },
    # announce the presence changes coalesced in windows that have ended
    "presence-announce-due": {
        "task": "presence.announce_due",
        "schedule": env_float("PRESENCE_ANNOUNCE_DUE_INTERVAL", 1.0),
        "options": {"expires": 2},
    },
}

# --- processes of the local stack (make run)
LB_PORT = env_int("LB_PORT", 8000)
# browser pages whose WebSockets the chat servers take: scheme, host and port must match one
CHAT_ALLOWED_ORIGINS = env_list(
    "CHAT_ALLOWED_ORIGINS", f"http://127.0.0.1:{LB_PORT},http://localhost:{LB_PORT}"
)

# --- chat servers: discovery registry, connect tickets, WebSocket limits, the send path
from chatproject.settings.chat_servers import *  # noqa: E402, F403

# --- presence (design note §4.4): heartbeats every PRESENCE_HEARTBEAT_INTERVAL s (clients); a user
# whose every socket has been silent for PRESENCE_OFFLINE_AFTER s is offline
PRESENCE_HEARTBEAT_INTERVAL = env_int("PRESENCE_HEARTBEAT_INTERVAL", 10)
PRESENCE_OFFLINE_AFTER = env_float("PRESENCE_OFFLINE_AFTER", 30.0)
PRESENCE_SWEEP_INTERVAL = env_float("PRESENCE_SWEEP_INTERVAL", 5.0)
# a chat server records the heartbeats of this many milliseconds in one Redis round trip
PRESENCE_TOUCH_BATCH_MS = env_float("PRESENCE_TOUCH_BATCH_MS", 50.0)
# friends hear of a user's presence at most once per this many seconds (later changes of a window
# go out together at its end, checked every PRESENCE_ANNOUNCE_DUE_INTERVAL seconds)
PRESENCE_ANNOUNCE_WINDOW = env_float("PRESENCE_ANNOUNCE_WINDOW", 3.0)
PRESENCE_ANNOUNCE_DUE_INTERVAL = env_float("PRESENCE_ANNOUNCE_DUE_INTERVAL", 1.0)

# --- push notification server (notifications/): Web Push with VAPID (RFC 8291/8292)
# PEM or base64url raw (32 bytes) P-256 private key; empty: one generated once into
# WEBPUSH_VAPID_KEY_FILE (local only: production sets it, as every worker must sign with one key)
WEBPUSH_VAPID_PRIVATE_KEY = env_str("WEBPUSH_VAPID_PRIVATE_KEY", "")
# a relative path is under the project root
WEBPUSH_VAPID_KEY_FILE = BASE_DIR / env_str(
    "WEBPUSH_VAPID_KEY_FILE", str(VAR_DIR / "webpush-vapid-private.pem")
)
WEBPUSH_VAPID_SUBJECT = env_str("WEBPUSH_VAPID_SUBJECT", "mailto:push@localhost")
WEBPUSH_TTL = env_int("WEBPUSH_TTL", 86400)  # seconds a push service keeps an undelivered push
WEBPUSH_TIMEOUT = env_float("WEBPUSH_TIMEOUT", 10.0)  # seconds: connect, and each wait for bytes
# seconds one push may take in all (a push service trickling its answer is cut off then)
WEBPUSH_DEADLINE = env_float("WEBPUSH_DEADLINE", 10.0)
# pushes in flight at once: to one user's devices, and in all per push worker process
WEBPUSH_CONCURRENCY_PER_USER = env_int("WEBPUSH_CONCURRENCY_PER_USER", 4)
WEBPUSH_CONCURRENCY = env_int("WEBPUSH_CONCURRENCY", 8)
# tests only: accept http://127.0.0.1:<port> subscription endpoints (a local push service); every
# other endpoint must be https on a host that resolves only to public addresses
WEBPUSH_ALLOW_LOCAL_HTTP = env_bool("WEBPUSH_ALLOW_LOCAL_HTTP", False)
# offline messages within this many seconds become one notification
PUSH_COALESCE_SECONDS = env_float("PUSH_COALESCE_SECONDS", 5.0)
PUSH_DEVICES_PER_USER_MAX = env_int("PUSH_DEVICES_PER_USER_MAX", 20)

# --- the REST API: request bodies, DRF, bearer tokens, client addresses, lockout, OpenAPI
from chatproject.settings.api import *  # noqa: E402, F403

# --- logs and metrics
from chatproject.settings.observability import *  # noqa: E402, F403
