"""Snowflake worker ids leased from Redis, so that no two live processes share one.

A lease is a Redis key `<prefix><worker_id>` holding a random token, set with `NX` and an expiry:
the claim is atomic (one Lua script walks the pool and takes the first free id), the holder renews
it while it lives and deletes it on exit. The holder trusts its lease only until
`sent_at + ttl - margin` by its own monotonic clock, measured from *before* the claim or renewal
was sent, so Redis always expires the key after the holder has stopped trusting it: a process
whose renewals fail (Redis down, long pause) stops issuing IDs before anyone else can take its id.

Each id also keeps a high-water mark (`<prefix><worker_id>:hwm`, the newest millisecond its
holders reported at renewal and release); a new holder starts its generator there, so IDs of two
successive holders of one worker id never collide even if their clocks disagree.

The claim script builds key names inside Lua, so it needs a single Redis (not Redis Cluster).
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

logger = logging.getLogger(__name__)

DEFAULT_KEY_PREFIX = "snowflake:worker:"

# ARGV: prefix, pool size, first id to try, token, ttl in ms → {worker_id, high-water ms} or nil
_CLAIM_LUA = """
local prefix = ARGV[1]
local size = tonumber(ARGV[2])
local start = tonumber(ARGV[3])
for i = 0, size - 1 do
  local id = (start + i) % size
  if redis.call('SET', prefix .. id, ARGV[4], 'NX', 'PX', ARGV[5]) then
    local hwm = redis.call('GET', prefix .. id .. ':hwm')
    return {id, hwm or '0'}
  end
end
return nil
"""

# KEYS: lease, hwm; ARGV: token, ttl ms (0: release), high-water ms → 1 if the lease was ours
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local hwm = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[3]) > hwm then
  redis.call('SET', KEYS[2], ARGV[3])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('DEL', KEYS[1])
end
return 1
"""


class WorkerLeaseError(RuntimeError):
    """No worker id could be claimed, or the one held was lost."""


@dataclass(frozen=True)
class WorkerLease:
    """A claimed worker id and the newest millisecond its earlier holders reported."""

    worker_id: int
    high_water_ms: int


class WorkerLeaseHolder:
    """Claims one worker id from a pool in Redis and keeps it alive.

    Thread-safe. `start_renewing()` runs a daemon thread that renews every ttl/3 and reports the
    generator's newest millisecond (`high_water`) as the id's high-water mark.
    """

    def __init__(
        self,
        *,
        client: redis.Redis,
        ttl_ms: int,
        pool_size: int = 1024,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_ms < 30:
            raise ValueError("lease ttl must be at least 30 ms")
        self._client = client
        self._ttl_ms = ttl_ms
        # stop trusting the lease a tenth of the ttl before Redis can expire it (clock rate drift,
        # scheduling delay between the monotonic read and the command reaching Redis is covered
        # because the read happens first)
        self._trust_ms = ttl_ms - max(ttl_ms // 10, 5)
        self._pool_size = pool_size
        self._prefix = key_prefix
        self._monotonic = monotonic
        self._token = secrets.token_hex(16)
        self._lock = threading.Lock()
        self._lease: WorkerLease | None = None
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._claim = client.register_script(_CLAIM_LUA)
        self._renew = client.register_script(_RENEW_LUA)

    @property
    def worker_id(self) -> int:
        lease = self._lease
        if lease is None:
            raise WorkerLeaseError("no worker id is held")
        return lease.worker_id

    def _keys(self, worker_id: int) -> list[str]:
        return [f"{self._prefix}{worker_id}", f"{self._prefix}{worker_id}:hwm"]

    def acquire(self) -> WorkerLease:
        """Claim a free worker id (starting at a random one) and return it."""
        with self._lock:
            sent_at = self._monotonic()
            start = random.randrange(self._pool_size)
            result = self._claim(args=[self._prefix, self._pool_size, start, self._token, self._ttl_ms])
            if not result:
                raise WorkerLeaseError(f"all {self._pool_size} worker ids are leased")
            worker_id, hwm = int(result[0]), int(result[1])
            self._lease = WorkerLease(worker_id=worker_id, high_water_ms=hwm)
            self._valid_until = sent_at + self._trust_ms / 1000
            return self._lease

    def is_valid(self) -> bool:
        """Whether the lease may still be used: claimed, not lost, and renewed recently enough."""
        return self._lease is not None and self._monotonic() < self._valid_until

    def renew(self, *, high_water_ms: int = 0) -> bool:
        """Extend the lease; False (and the lease is dropped) if it is no longer ours."""
        with self._lock:
            lease = self._lease
            if lease is None:
                return False
            sent_at = self._monotonic()
            ours = self._renew(
                keys=self._keys(lease.worker_id), args=[self._token, self._ttl_ms, high_water_ms]
            )
            if not ours:
                logger.warning("snowflake worker id %s was lost (lease expired)", lease.worker_id)
                self._lease = None
                self._valid_until = 0.0
                return False
            self._valid_until = sent_at + self._trust_ms / 1000
            return True

    def release(self, *, high_water_ms: int = 0) -> None:
        """Stop renewing and give the worker id back (if it is still ours)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        with self._lock:
            lease, self._lease = self._lease, None
            self._valid_until = 0.0
            if lease is not None:
                self._renew(keys=self._keys(lease.worker_id), args=[self._token, 0, high_water_ms])

    def start_renewing(self, *, high_water: Callable[[], int] = lambda: 0) -> None:
        """Renew from a daemon thread every ttl/3 until `release()`."""
        if self._thread is not None:
            return
        interval = self._ttl_ms / 3000

        def run() -> None:
            while not self._stop.wait(interval):
                if self._lease is None:
                    continue  # lost: the owner claims a new one through acquire()
                try:
                    self.renew(high_water_ms=high_water())
                except redis.RedisError:
                    # keep trying; the holder stops trusting the lease on its own when it runs out
                    logger.warning("renewing the snowflake worker lease failed", exc_info=True)

        self._thread = threading.Thread(target=run, name="snowflake-lease", daemon=True)
        self._thread.start()
