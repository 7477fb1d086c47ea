"""Storage: Cassandra (`cassandra/`) and Redis (`redis/`). Imports only `chat.domain`."""
