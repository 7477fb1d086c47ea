"""`make bench`: the load generator and the bare relay it measures the chat service against.

`python -m bench` logs users in through the API, connects them to the chat servers through
discovery and drives the scenarios (`bench.scenarios`: the many users' 1:1 ladder, 20 pairs
sending fast, group fan-out, idle connections, history and sync under load, overload and recovery)
against the running stack and, in the same run, against a bare `websockets` relay (`bench.relay`:
no Django, no queue, no storage) with the same client. Each pipeline step also reports where the
time went hop by hop (`bench.hops`) and the CPU of every process of the stack per stored message
(`bench.processes`). It prints tables and writes `var/bench/latest.json` and
`var/bench/latest.png`.
"""
