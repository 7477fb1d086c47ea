"""Every setting of the service, read from the environment through `settings.env`.

`local`, `test` and `production` import this module and change only what differs between them.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from chatproject.settings.env import (
    BASE_DIR,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    redis_url_build,
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

# --- PostgreSQL: users, profiles, settings, friends, conversations
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env_str("POSTGRES_HOST", "127.0.0.1"),
        "PORT": env_int("POSTGRES_PORT", 5433),
        "NAME": env_str("POSTGRES_DB", "chat"),
        "USER": env_str("POSTGRES_USER", "chat"),
        "PASSWORD": env_str("POSTGRES_PASSWORD", "chat"),
        "CONN_MAX_AGE": env_int("POSTGRES_CONN_MAX_AGE", 60),
        # a health check costs a query per request cycle, and Channels starts a cycle for every
        # database call of a consumer; a broken connection is dropped after its first error anyway
        "CONN_HEALTH_CHECKS": env_bool("POSTGRES_CONN_HEALTH_CHECKS", False),
        "OPTIONS": {"connect_timeout": env_int("POSTGRES_CONNECT_TIMEOUT", 5)},
    }
}
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

# --- Redis: routing, presence, discovery registry, dedup, Celery broker, channel layer
REDIS_HOST = env_str("REDIS_HOST", "127.0.0.1")
REDIS_PORT = env_int("REDIS_PORT", 6380)
REDIS_DB = env_int("REDIS_DB", 0)
# off locally; a managed Redis takes a password (AUTH) and TLS (rediss://, certificate verified
# against REDIS_TLS_CA_CERTS or the system's CAs)
REDIS_PASSWORD = env_str("REDIS_PASSWORD", "")
REDIS_TLS = env_bool("REDIS_TLS", False)
REDIS_TLS_CA_CERTS = env_str("REDIS_TLS_CA_CERTS", "")
REDIS_URL = redis_url_build(
    host=REDIS_HOST,
    port=REDIS_PORT,
    db=REDIS_DB,
    password=REDIS_PASSWORD,
    tls=REDIS_TLS,
    ca_certs=REDIS_TLS_CA_CERTS,
)

CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
            "expiry": env_int("CHANNEL_LAYER_EXPIRY", 10),
        },
    }
}

# --- Cassandra: chat history
CASSANDRA_HOSTS = env_list("CASSANDRA_HOSTS", "127.0.0.1")
CASSANDRA_PORT = env_int("CASSANDRA_PORT", 9042)
CASSANDRA_KEYSPACE = env_str("CASSANDRA_KEYSPACE", "chat")
# the keyspace's replication (the migration command): SimpleStrategy:<rf> or
# NetworkTopologyStrategy:<dc>=<rf>,...; 1 for the single local node, 3 for a cluster
CASSANDRA_REPLICATION = env_str("CASSANDRA_REPLICATION", "SimpleStrategy:1")
# consistency of every read and write: ONE for the single local node, QUORUM (LOCAL_QUORUM across
# datacenters) for a cluster with RF=3: a read after an acknowledged write always sees it, and one
# node of three may be down
CASSANDRA_CONSISTENCY = env_str("CASSANDRA_CONSISTENCY", "ONE")
CASSANDRA_LOCAL_DC = env_str("CASSANDRA_LOCAL_DC", "")
CASSANDRA_CONNECT_TIMEOUT = env_float("CASSANDRA_CONNECT_TIMEOUT", 5.0)
# seconds the driver waits for a request (the nodes give up on a write after 2 s, a read after 5 s:
# deploy/cassandra/cassandra.yaml.in): a store that cannot be served fails within seconds, and the
# sync task tries again (CHAT_STORE_ATTEMPTS) rather than hang
CASSANDRA_REQUEST_TIMEOUT = env_float("CASSANDRA_REQUEST_TIMEOUT", 6.0)
# attempts of a sync task whose batch the message store cannot take at CASSANDRA_CONSISTENCY (too
# few replicas up) before the batch is refused: its senders get `unavailable` and resend
CHAT_STORE_ATTEMPTS = env_int("CHAT_STORE_ATTEMPTS", 3)
# native protocol v5 is what Cassandra 5.0 speaks; fixing it saves a downgrade round trip per connect
CASSANDRA_PROTOCOL_VERSION = env_int("CASSANDRA_PROTOCOL_VERSION", 5)
# lightweight transactions (the client_msg_id dedup claim): LOCAL_SERIAL or SERIAL
CASSANDRA_SERIAL_CONSISTENCY = env_str("CASSANDRA_SERIAL_CONSISTENCY", "LOCAL_SERIAL")
# off locally: credentials (PasswordAuthenticator) and TLS to the nodes, the certificate verified
# against CASSANDRA_TLS_CA_CERTS (or the system's CAs) and the node's address or name
CASSANDRA_USERNAME = env_str("CASSANDRA_USERNAME", "")
CASSANDRA_PASSWORD = env_str("CASSANDRA_PASSWORD", "")
CASSANDRA_TLS = env_bool("CASSANDRA_TLS", False)
CASSANDRA_TLS_CA_CERTS = env_str("CASSANDRA_TLS_CA_CERTS", "")

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

# --- request bodies: a JSON body over API_JSON_MAX_BYTES is 413 too_large, one nested deeper than
# API_JSON_MAX_DEPTH is 400 bad_request (chatproject/parsers.py); nginx's client_max_body_size (10m)
# is the outer bound, for avatar uploads (AVATAR_MAX_BYTES)
API_JSON_MAX_BYTES = env_int("API_JSON_MAX_BYTES", 1024 * 1024)
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32)
# form fields and `request.body` (everything but uploaded files) are held to the same bound
DATA_UPLOAD_MAX_MEMORY_SIZE = API_JSON_MAX_BYTES

# --- DRF
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["chatproject.parsers.BoundedJSONParser"],
    # bearer first: its WWW-Authenticate header makes "not logged in" a 401, not a 403
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "100/min"),
        "user": env_str("API_THROTTLE_USER", "200/min"),
        # besides the general budget: edits and deletes of messages, per user
        "message_edit": env_str("API_THROTTLE_MESSAGE_EDIT", "60/min"),
        "message_delete": env_str("API_THROTTLE_MESSAGE_DELETE", "60/min"),
    },
    # 0: the client address is REMOTE_ADDR, which chatproject.proxies has already settled
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "chatproject.errors.api_exception_handler",
}
# throttle counters are shared by every API server process
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": "cache",
    }
}

# --- per-device bearer tokens (django-rest-knox): `Authorization: Bearer <token>`
KNOX_TOKEN_MODEL = "accounts.DeviceToken"
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(days=env_int("AUTH_TOKEN_TTL_DAYS", 30)),
    # a token in use keeps living; one left unused for TOKEN_TTL expires
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 3600,
}

# --- the client address (chatproject/proxies.py): X-Forwarded-For is believed only from these peers
# (the load balancer's addresses or networks), taking the entry API_NUM_PROXIES from its right end
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "127.0.0.1")
API_NUM_PROXIES = env_int("API_NUM_PROXIES", 1)

# --- brute-force protection (django-axes): lock a username and, separately, an IP
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# a success forgets only that username's failures from that address (accounts/lockout.py)
AXES_RESET_ON_SUCCESS = False
# failures count against the account's normalised username, however it was spelt
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.axes_lockout_response"
# the client address as DRF throttling sees it (REMOTE_ADDR, settled by chatproject/proxies.py)
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip_address"
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat service API",
    "DESCRIPTION": "REST API of the chat service (see docs and DESIGN.md §3.1).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chatproject.openapi.openapi_contract",
    ],
    # `<id:...>` in URLs (accounts.urls.IdConverter): a positive 64-bit integer
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
}

# --- logs and metrics (README, "Logs and metrics"): JSON lines (LOG_FORMAT=json, `make run`) or
# plain text (the test settings' default), each with the id of its request, connection or batch;
# PROCESS_NAME is set per process by scripts/run.sh (api-1, chat-1, worker-sync-0, beat...)
LOG_FORMAT = env_str("LOG_FORMAT", "json")
PROCESS_NAME = env_str("PROCESS_NAME", "") or Path(sys.argv[0]).name
PROCESS_KIND = re.sub(r"-\d+$", "", PROCESS_NAME)  # api, chat, worker-sync, ...
# a Celery process serves /metrics on METRICS_ADDR:METRICS_PORT + METRICS_PORT_INDEX (0: none);
# API and chat servers serve it on their own HTTP port
METRICS_ADDR = env_str("METRICS_ADDR", "127.0.0.1")
METRICS_PORT = env_int("METRICS_PORT", 0)
METRICS_PORT_INDEX = env_int("METRICS_PORT_INDEX", 0)


def logging_config(log_format: str) -> dict[str, Any]:
    """The LOGGING of a format, `json` or `plain`."""
    if log_format not in ("json", "plain"):
        raise RuntimeError(f"LOG_FORMAT must be json or plain, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "chatproject.logs.LogContextFilter"}},
        "formatters": {
            "plain": {"()": "chatproject.logs.PlainFormatter"},
            "json": {"()": "chatproject.logs.JsonFormatter", "process": PROCESS_NAME, "kind": PROCESS_KIND},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        "loggers": {
            "cassandra": {"level": "WARNING"},
            "django.db.backends": {"level": "INFO"},
            # one line per sampled message with its per-hop times (chat/domain/hops.py): DEBUG to see them
            "chat.hops": {"level": env_str("LOG_LEVEL_HOPS", "INFO")},
        },
    }


LOGGING = logging_config(LOG_FORMAT)
