"""The baseline: a bare WebSocket relay of the same protocol, with the plain `websockets` library.

No Django, no queue, no storage: `message.send` is numbered from a counter, acknowledged at once
and written to the sockets of the conversation's other members in this process; `heartbeat` is
answered; `sync` answers `sync.done` (there is nothing stored to sync). The ticket in
`?ticket=` is taken as the user id. The conversations' members come from a JSON file
`{conversation_id: [user ids]}` written by the bench.

    python -m bench.relay --port 8101 --members var/bench/relay-members.json
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import uvloop
from websockets import broadcast
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.procs import raise_fd_limit

EPOCH_MS = 1_704_067_200_000  # the Snowflake epoch of chat/domain/snowflake.py, so IDs look alike


class Relay:
    def __init__(self, members: dict[int, list[int]]) -> None:
        self.members = members
        self.sockets: dict[int, set[ServerConnection]] = defaultdict(set)
        self._last_id = 0

    def next_id(self) -> int:
        self._last_id = max(self._last_id + 1, (int(time.time() * 1000) - EPOCH_MS) << 22)
        return self._last_id

    async def handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        try:
            user_id = int(query["ticket"][0])
        except (KeyError, ValueError):
            await ws.close(4401)
            return
        self.sockets[user_id].add(ws)
        try:
            async for raw in ws:
                await self.receive(ws, user_id, raw)
        except ConnectionClosed:
            pass
        finally:
            self.sockets[user_id].discard(ws)
            if not self.sockets[user_id]:
                del self.sockets[user_id]

    async def receive(self, ws: ServerConnection, user_id: int, raw: str | bytes) -> None:
        try:
            frame = orjson.loads(raw)
            kind = frame["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await ws.send('{"type":"error","code":"bad_request","message":"bad frame","ref":null}')
            return
        if kind == "heartbeat":
            await ws.send('{"type":"heartbeat.ack"}')
        elif kind == "message.send":
            conversation_id = int(frame["conversation_id"])
            members = self.members.get(conversation_id, ())
            if user_id not in members:
                await ws.send('{"type":"error","code":"forbidden","message":"not a member","ref":null}')
                return
            message_id = str(self.next_id())
            new = orjson.dumps(
                {
                    "type": "message.new",
                    "message": {
                        "id": message_id,
                        "conversation_id": conversation_id,
                        "sender_id": user_id,
                        "body": frame["body"],
                        "created_at": None,
                        "client_msg_id": frame["client_msg_id"],
                        "mentions": [],
                        "edited_at": None,
                        "deleted": False,
                    },
                }
            ).decode()
            ack = {
                "type": "message.ack",
                "client_msg_id": frame["client_msg_id"],
                "message_id": message_id,
                "conversation_id": conversation_id,
            }
            await ws.send(orjson.dumps(ack).decode())
            targets = [s for uid in members for s in self.sockets.get(uid, ()) if s is not ws]
            broadcast(targets, new)
        elif kind == "sync":
            await ws.send(
                orjson.dumps({"type": "sync.done", "cur_max_message_id": str(frame["since"])}).decode()
            )
        else:
            await ws.send('{"type":"error","code":"unknown_type","message":"unknown type","ref":null}')


async def _serve(port: int, members: dict[int, list[int]]) -> None:
    relay = Relay(members)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(relay.handle, "127.0.0.1", port, compression=None, ping_interval=None, max_size=65536):
        print(f"relay listening on 127.0.0.1:{port}", flush=True)
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--members", type=Path, required=True)
    args = parser.parse_args()
    raise_fd_limit()
    raw = orjson.loads(args.members.read_bytes()) if args.members.exists() else {}
    uvloop.run(_serve(args.port, {int(k): [int(u) for u in v] for k, v in raw.items()}))


if __name__ == "__main__":
    main()
