"""Exit 0 when a Cassandra node answers CQL (used by scripts/services.sh to wait for a node).

Usage: cql_ready.py <hosts comma-separated> <port> [<peers>]

With `peers`, the first host must also know that many other nodes (system.peers_v2): a node of a
cluster is ready once it has found the others through gossip. The query goes to that host only.
"""

import sys

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy


def main() -> int:
    hosts, port = sys.argv[1].split(","), int(sys.argv[2])
    peers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy(hosts), request_timeout=5)
    cluster = Cluster(
        hosts,
        port=port,
        connect_timeout=2,
        control_connection_timeout=2,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local").one()
        known = len(list(session.execute("SELECT peer FROM system.peers_v2"))) if peers else 0
        if known < peers:
            print(f"{known} of {peers} peers known", file=sys.stderr)
            return 1
        print(row.release_version)
        return 0
    except Exception as exc:  # any failure means "not ready yet"
        print(exc, file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
