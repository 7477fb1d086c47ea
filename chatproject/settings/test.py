"""Settings of `make test`: the same real services, separate databases.

Tests use their own PostgreSQL database (test_<db>), Cassandra keyspace (<keyspace>_test) and
Redis database (TEST_REDIS_DB, default 1), so a running `make run` stack is never touched.
TEST_RUN_ID (optional) gives concurrent test runs on one machine their own database and keyspace;
give each its own TEST_REDIS_DB too.
"""

from chatproject.settings.api import CACHES
from chatproject.settings.base import *  # noqa: F403
from chatproject.settings.base import DJANGO_SECRET_KEY_FILE, SECRET_KEY
from chatproject.settings.env import env_bool, env_float, env_int, env_str, redis_url_build
from chatproject.settings.observability import logging_config
from chatproject.settings.secret_key import secret_key_load_or_create
from chatproject.settings.stores import (
    CASSANDRA_KEYSPACE,
    CHANNEL_LAYERS,
    DATABASES,
    REDIS_HOST,
    REDIS_PASSWORD,
    REDIS_PORT,
    REDIS_TLS,
    REDIS_TLS_CA_CERTS,
)

# as locally: a random key generated once into the run's var/ (shared by a test stack's processes)
SECRET_KEY = SECRET_KEY or secret_key_load_or_create(DJANGO_SECRET_KEY_FILE)

_RUN = env_str("TEST_RUN_ID", "")
_SUFFIX = f"_{_RUN}" if _RUN else ""

DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}{_SUFFIX}"}
CASSANDRA_KEYSPACE = f"{CASSANDRA_KEYSPACE}_test{_SUFFIX}"
DATABASES["default"]["CONN_MAX_AGE"] = 0

# fast hashing in tests; production and local keep Argon2
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

REDIS_DB = env_int("TEST_REDIS_DB", 1)
REDIS_URL = redis_url_build(
    host=REDIS_HOST,
    port=REDIS_PORT,
    db=REDIS_DB,
    password=REDIS_PASSWORD,
    tls=REDIS_TLS,
    ca_certs=REDIS_TLS_CA_CERTS,
)
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]
CELERY_BROKER_URL = REDIS_URL
CACHES["default"]["LOCATION"] = env_str("CACHE_URL", REDIS_URL)
# the sync-queue task runs inline in in-process tests (REST sends, consumer tests); the
# process-level tests in tests/ start real Celery workers with CELERY_TASK_ALWAYS_EAGER=0
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
# tests change memberships and blocks between sends: validate every send against the database
CHAT_SEND_RULES_CACHE_SECONDS = env_float("CHAT_SEND_RULES_CACHE_SECONDS", 0.0)
# in-process tests run eager sync tasks and fixtures on the event loop's thread, which would count
# as a chat server falling behind: the tests of shedding on lag set it themselves
CHAT_SHED_LAG_MS = env_float("CHAT_SHED_LAG_MS", 2000.0)
# test runs and the stacks of process-level tests log plain text unless LOG_FORMAT says otherwise
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
LOGGING = logging_config(LOG_FORMAT)
