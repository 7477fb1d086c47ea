"""Settings of the stores' connections: PostgreSQL, Redis (with the channel layer on it) and
Cassandra (imported by `base`)."""

from __future__ import annotations

from typing import Any

from chatproject.settings.env import env_bool, env_float, env_int, env_list, env_str, redis_url_build

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
