"""`make bench`: the load generator and the bare relay it measures the chat service against.

`python -m bench` logs users in through the API, connects them to the chat servers through
discovery and drives the scenarios of issue 6 (1:1 ladder, group fan-out, idle connections,
history and sync under load) against the running stack and, in the same run, against a bare
`websockets` relay (`bench.relay`: no Django, no queue, no storage) with the same client. It
prints a table and writes `var/bench/latest.json` and `var/bench/latest.png`.
"""
