"""Settings of `make test`: the same real services, separate databases.

TEST_RUN_ID (optional) gives concurrent test runs on one machine their own PostgreSQL test
database and Cassandra keyspace.
"""

from chatproject.settings.base import *  # noqa: F403
from chatproject.settings.base import CASSANDRA_KEYSPACE, DATABASES
from chatproject.settings.env import env_str

_RUN = env_str("TEST_RUN_ID", "")
_SUFFIX = f"_{_RUN}" if _RUN else ""

DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}{_SUFFIX}"}
CASSANDRA_KEYSPACE = f"{CASSANDRA_KEYSPACE}_test{_SUFFIX}"
DATABASES["default"]["CONN_MAX_AGE"] = 0

# fast hashing in tests; production and local keep Argon2
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
