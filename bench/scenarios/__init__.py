"""The scenarios of `make bench`, each run the same way against the pipeline and the baseline:

- `traffic`: what they share (targets, senders, the open-loop runner) and the ladder: pairs
  sending open loop at each offered rate; run for the many users' 1:1 pairs and for 20 pairs
  sending fast, and for the 100-member groups' fan-out;
- `history_sync`: history pages over REST and `sync` after 1,000 missed messages, while the 1:1
  load runs at a fixed rate (pipeline only: the relay stores nothing);
- `overload`: the 20 pairs far past capacity, then a normal step at once: shedding and recovery
  (pipeline only: the relay sheds nothing);
- `connections`: idle connections with heartbeats in steps, held by helper processes
  (`bench.conn_worker`), with the servers' memory and CPU read from /proc.
"""
