"""Settings of the REST API: request-body bounds, DRF (throttle rates, and the cache that shares
their counters), per-device bearer tokens, the client address behind the load balancer,
brute-force lockout and the OpenAPI schema (imported by `base`)."""

from __future__ import annotations

from datetime import timedelta

from chatproject.settings.env import env_int, env_list, env_str
from chatproject.settings.stores import REDIS_URL

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
