"""Production settings: a multi-node Cassandra cluster, secure cookies, no debug.

Every address still comes from the environment (see .env.example); only the defaults that must
differ from the local stack are changed here.
"""

from chatproject.settings.base import *  # noqa: F403
from chatproject.settings.env import env_bool, env_str
from chatproject.settings.secret_key import secret_key_check
from chatproject.settings.stores import DATABASES

DEBUG = env_bool("DJANGO_DEBUG", False)
# required: no default in production, and never a value published in the repository
SECRET_KEY = secret_key_check(env_str("DJANGO_SECRET_KEY"), source="DJANGO_SECRET_KEY")
# required: the local default password of the database role is no password for production
DATABASES["default"]["PASSWORD"] = env_str("POSTGRES_PASSWORD")
# required: every push worker signs with the one key that browsers subscribed with
WEBPUSH_VAPID_PRIVATE_KEY = env_str("WEBPUSH_VAPID_PRIVATE_KEY")
# NetworkTopologyStrategy with RF=3 in the local datacenter, LOCAL_QUORUM reads and writes
CASSANDRA_REPLICATION = env_str("CASSANDRA_REPLICATION", "NetworkTopologyStrategy:dc1=3")
CASSANDRA_CONSISTENCY = env_str("CASSANDRA_CONSISTENCY", "LOCAL_QUORUM")
CASSANDRA_LOCAL_DC = env_str("CASSANDRA_LOCAL_DC", "dc1")

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
