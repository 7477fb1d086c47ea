"""Exit 0 when a Cassandra node answers CQL (used by scripts/services.sh to wait for the node).

Usage: cql_ready.py <hosts comma-separated> <port>
"""

import sys

from cassandra.cluster import Cluster


def main() -> int:
    hosts, port = sys.argv[1].split(","), int(sys.argv[2])
    cluster = Cluster(hosts, port=port, connect_timeout=2, control_connection_timeout=2)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        print(row.release_version)
        return 0
    except Exception as exc:  # any failure means "not ready yet"
        print(exc, file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
