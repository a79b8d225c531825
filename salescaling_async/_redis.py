"""Budgets shared by many processes and machines, on Redis (extra ``salescaling-async[redis]``).

This module is only a *store*: queueing, lanes, deadlines, wake-ups, pauses and header
learning are the scheduler shell's (``_scheduler.py``), which asks :class:`RedisKeyLog` for
one slot at a time from the head of each key's queue.

The shared state of one API key is two Redis keys in **one hash slot** (the key's digest is
the hash tag, so every script also runs on a Redis Cluster):

* ``<ns>:{<digest>}:log``, a sorted set: members are slots, scores their anchors in
  milliseconds of **Redis's own clock** (``TIME``), so machine clocks never matter.  ``f:<id>``
  is in flight (pessimistic anchor ``now + horizon``), ``d:<id>`` settled, ``p:...`` a phantom
  hit (a 429's full window, or hits the server counted that the log did not know).  The
  **generation marker** ``g:<random>`` lives in the same set at score 0: whatever loses the
  log (a restart without persistence, a failover to a lagging replica, eviction) loses the
  marker with it.
* ``<ns>:{<digest>}:meta``, a hash: the fleet-wide ``pause`` end, ``open`` (0 while the key
  has not learned the server's view), the cold-start ``probe`` lease, ``seen`` answers and
  the header-less ``ramp`` count, the cold-start ``watch`` end and ``pace_at`` (a closed key
  that saw someone else's recent hits), and ``coll``/``coll_at`` (room taught by 429s).
* ``<ns>:{<digest>}:foreign``, a sorted set of live foreign hits (traffic from outside the
  fleet, learned while the key was open or by a second cold-start answer): every window keeps
  room for that traffic, as ``_budget.KeyBudget._foreign_room`` does for one process, so the
  outside client does not trip the key's block for everyone.

Scripts (atomic, Lua):

* ``ACQUIRE``: create the marker if missing (a new or lost log: a new generation, closed);
  answer "re-seed first" to a process that knew another generation; grant idempotently per
  slot id; honour the fleet pause; while closed allow one probe at a time (paced while
  watching); else the sliding-log check of every window, less the room kept for foreign
  traffic (limits passed per call: learned smaller limits apply fleet-wide).
* ``SETTLE``: replace ``f:<id>`` by ``d:<id>`` at Redis's receive time (or ``now + ambiguity``
  for a failure after sending; removed when nothing was sent); with the response's headers,
  add phantoms for hits the server counted beyond the log and open the key.  Idempotent, and
  it re-adds the slot to a log that was lost meanwhile.
* ``PAUSE``: after a 429, pause every process and fill the named windows; on an open key the
  room kept for foreign traffic doubles.
* ``RESEED``: write this process's own recent slots into a new generation (after data loss)
  or after an outage (slots granted locally are written back).

Failures: ``on_failure="closed"`` raises :class:`BudgetStoreError` to the key's waiters;
``"local"`` grants from the process's own view with ``fallback_fraction`` of every limit
(rounded down: a share that rounds to 0 grants nothing until Redis is back) and retries Redis
after ``recheck_seconds``.  Settles and pauses are retried a few times, then kept and written
with the next successful call; a slot whose acquire reply was lost is removed by that slot id
(idempotent), so it is not held for the horizon.

Size: ~600 lines, most of it the Lua scripts, kept beside the Python that calls them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import attrs

from ._backoff import WindowHeaders
from ._budget import Slot, SlotState
from ._clock import Clock
from ._config import RateLimits
from ._errors import BudgetStoreError, ConfigError
from ._events import Event
from ._stores import KeyLog

if TYPE_CHECKING:
    from ._scheduler import Scheduler

log = logging.getLogger("salescaling_async")

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

ACQUIRE = (
    _NOW
    + """
local n = tonumber(ARGV[1])
local base = 2 + 2 * n
local horizon = tonumber(ARGV[base])
local poll = tonumber(ARGV[base + 1])
local id = ARGV[base + 2]
local mygen = ARGV[base + 3]
local lease = tonumber(ARGV[base + 5])
local maxhold = 0
for i = 1, n do
  local hold = tonumber(ARGV[1 + 2 * i])
  if hold > maxhold then maxhold = hold end
end
local ttl = maxhold + horizon + 1000
local gen = redis.call('ZRANGEBYSCORE', KEYS[1], 0, 0, 'LIMIT', 0, 1)[1]
if not gen then
  gen = 'g:' .. ARGV[base + 4]
  redis.call('ZADD', KEYS[1], 0, gen)
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'open', 0)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
if mygen ~= '' and mygen ~= gen then return {2, 0, gen} end
if redis.call('ZSCORE', KEYS[1], 'f:' .. id) then return {1, now, gen} end
local meta = redis.call('HMGET', KEYS[2], 'pause', 'open', 'probe', 'coll', 'coll_at', 'watch', 'pace_at')
local pause = tonumber(meta[1]) or 0
if pause > now then return {0, pause - now, gen} end
local open = meta[2]
if not open then
  open = '0'
  redis.call('HSET', KEYS[2], 'open', 0)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(0', now - maxhold)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - maxhold)
local wait = 0
local helds = {}
local notes = redis.call('ZCARD', KEYS[3])
local first = 0
if notes > 0 then first = tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]) end
local coll = 0
if now - (tonumber(meta[5]) or 0) <= maxhold then coll = tonumber(meta[4]) or 0 end
local minhold = maxhold
for i = 1, n do minhold = math.min(minhold, tonumber(ARGV[1 + 2 * i])) end
-- the rate counts the hits noted after the first note (the first may be a one-off)
local later = 0
if notes > 0 then later = notes - redis.call('ZCOUNT', KEYS[3], first, first) end
-- steady traffic (a hit every other short window or more) comes in bursts: one slot more
local burst = 0
if later > 0 and later * minhold >= 0.5 * math.max(minhold, now - first) then burst = 1 end
for i = 1, n do
  local hold = tonumber(ARGV[1 + 2 * i])
  local floor = '(' .. (now - hold)
  -- live foreign traffic keeps coming: leave it as much room as it took within the hold,
  -- its rate times the hold, or what collisions taught (see _budget.KeyBudget._foreign_room)
  local room = coll
  if notes > 0 then
    local rate = math.ceil(later * hold / math.max(hold, now - first)) + burst
    room = math.max(room, redis.call('ZCOUNT', KEYS[3], floor, '+inf'), rate, 1)
  end
  local limit = math.max(1, tonumber(ARGV[2 * i]) - room)
  local held = redis.call('ZCOUNT', KEYS[1], floor, '+inf')
  helds[i] = held
  if held >= limit then
    local entry = redis.call('ZRANGEBYSCORE', KEYS[1], floor, '+inf', 'WITHSCORES', 'LIMIT', held - limit, 1)
    local w
    if string.sub(entry[1], 1, 2) == 'f:' then w = poll else w = tonumber(entry[2]) + hold - now + 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, wait, gen, unpack(helds)} end
if open == '0' then
  if (tonumber(meta[3]) or 0) > now then return {0, poll, gen} end
  -- watching live traffic (see SETTLE): probes are also paced, one per slot of the binding window
  local pace_at = tonumber(meta[7]) or 0
  if (tonumber(meta[6]) or 0) > now and pace_at > now then return {0, pace_at - now, gen} end
  local pace = 0
  for i = 1, n do pace = math.max(pace, tonumber(ARGV[1 + 2 * i]) / tonumber(ARGV[2 * i])) end
  redis.call('HSET', KEYS[2], 'probe', now + lease, 'probe_id', id, 'pace_at', now + math.ceil(pace))
end
redis.call('ZADD', KEYS[1], now + horizon, 'f:' .. id)
return {1, now, gen, unpack(helds)}
"""
)

SETTLE = (
    _NOW
    + """
local id = ARGV[1]
local mode = ARGV[2]
local ttl = tonumber(ARGV[4])
if redis.call('ZSCORE', KEYS[1], 'd:' .. id) then return 0 end
local granted = redis.call('ZSCORE', KEYS[1], 'f:' .. id)
local was = redis.call('ZREM', KEYS[1], 'f:' .. id)
if redis.call('HGET', KEYS[2], 'probe_id') == id then redis.call('HDEL', KEYS[2], 'probe', 'probe_id') end
if mode == 'returned' then return was end
local anchor = now
if mode == 'ambiguous' then anchor = now + tonumber(ARGV[3]) end
redis.call('ZADD', KEYS[1], anchor, 'd:' .. id)
if mode == 'received' then
  -- live traffic, not an earlier process's history: seen while open, or by a second answer
  local meta = redis.call('HMGET', KEYS[2], 'open', 'seen')
  local live_open = meta[1] == '1'
  local live = live_open or (tonumber(meta[2]) or 0) >= 1
  local m = tonumber(ARGV[5])
  local fresh = 0
  local short_new = 0  -- hits beyond the log in the shortest window on the answer
  for i = 1, m do
    local hold = tonumber(ARGV[2 + 4 * i])
    local count = tonumber(ARGV[3 + 4 * i])
    local older, recent = tonumber(ARGV[4 + 4 * i]), tonumber(ARGV[5 + 4 * i])
    -- what the server may have counted of ours: settled slots and phantoms, plus the
    -- requests in flight granted before this one or up to REORDER_MS after it (another
    -- process's request may overtake ours on the way); in-flight anchors are grant + horizon
    local upto = '+inf'
    if granted then upto = tonumber(granted) + tonumber(ARGV[7 + 4 * m]) end
    local held = redis.call('ZCOUNT', KEYS[1], '(' .. (now - hold), upto)
    for j = 1, count - held do
      -- hits beyond a shorter window's count are at least that window old
      local anchor = now
      if older >= 0 and j <= count - held - recent then anchor = now - older end
      redis.call('ZADD', KEYS[1], anchor, 'p:' .. id .. ':' .. i .. ':' .. j)
    end
    if count - held > fresh then fresh = count - held end
    if i == 1 then short_new = count - held end
  end
  -- the same foreign hits show in every window's count: note them once, for the room kept
  if live then
    for j = 1, fresh do redis.call('ZADD', KEYS[3], now, 'x:' .. id .. ':' .. j) end
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
  if m > 0 then  -- two answers with headers, one after the other (see _scheduler.PROBES)
    local seen = redis.call('HINCRBY', KEYS[2], 'seen', 1)
    local watch = tonumber(redis.call('HGET', KEYS[2], 'watch')) or 0
    if short_new > 0 and seen <= 2 and watch < now and not live_open then
      -- someone uses the key right now: stay closed (single flight, paced) for one short
      -- window, so that traffic shows in the answers before the fleet opens into it
      watch = now + tonumber(ARGV[6])
      redis.call('HSET', KEYS[2], 'watch', watch)
      if not live then  -- the first answer: its recent hits are the evidence
        for j = 1, short_new do redis.call('ZADD', KEYS[3], now, 'x:' .. id .. ':' .. j) end
        redis.call('PEXPIRE', KEYS[3], ttl)
      end
    end
    if seen >= 2 and now >= watch then redis.call('HSET', KEYS[2], 'open', 1, 'ramp', 0) end
  elseif redis.call('HINCRBY', KEYS[2], 'ramp', 1) >= tonumber(ARGV[6 + 4 * m]) then
    redis.call('HSET', KEYS[2], 'open', 1)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""
)

PAUSE = (
    _NOW
    + """
local untl = now + tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local meta = redis.call('HMGET', KEYS[2], 'pause', 'open', 'coll', 'coll_at')
local paused = tonumber(meta[1]) or 0
if meta[2] == '1' and paused <= now then
  -- a 429 on an open key proves outside traffic the room kept for it did not cover:
  -- keep twice as many slots free (1 after the first), until none for the longest hold
  local coll = tonumber(meta[3]) or 0
  if now - (tonumber(meta[4]) or 0) > tonumber(ARGV[5 + 2 * n]) then coll = 0 end
  redis.call('HSET', KEYS[2], 'coll', math.max(1, 2 * coll), 'coll_at', now)
end
if untl > paused then
  redis.call('HSET', KEYS[2], 'pause', untl)
end
for i = 1, n do
  local limit = tonumber(ARGV[3 + 2 * i - 1])
  local hold = tonumber(ARGV[3 + 2 * i])
  local held = redis.call('ZCOUNT', KEYS[1], '(' .. (now - hold), '+inf')
  for j = 1, limit - held do
    redis.call('ZADD', KEYS[1], now, 'p:' .. ARGV[4 + 2 * n] .. ':' .. i .. ':' .. j)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
"""
)

RESEED = (
    _NOW
    + """
if redis.call('ZRANGEBYSCORE', KEYS[1], 0, 0, 'LIMIT', 0, 1)[1] ~= ARGV[1] then return 0 end
local horizon = tonumber(ARGV[2])
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[1], 'd:' .. id) then
    if ARGV[i + 1] == 'f' then
      redis.call('ZADD', KEYS[1], 'NX', now + horizon, 'f:' .. id)
    else
      redis.call('ZREM', KEYS[1], 'f:' .. id)
      redis.call('ZADD', KEYS[1], now - tonumber(ARGV[i + 2]), 'd:' .. id)
    end
  end
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
)

RAMP = 4  # header-less responses, one at a time, before a closed key opens (see _scheduler.COLD_RAMP)
REORDER_MS = 50  # another process's request granted this much after ours may reach the server first


def redact_url(url: str) -> str:
    """``url`` with its password (and user name) replaced by ``***``, for reprs and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@attrs.frozen
class RedisBudget:
    """A budget shared through Redis by every process and machine using the same keys.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS), or a node of a Redis Cluster
            with ``cluster=True``.
        namespace: Prefix of every Redis key (keys carry a hash of the API key, never the key).
        horizon: Seconds an in-flight slot is assumed to last (longer than any request).
        ambiguity: Extra seconds a failure after sending is held.
        poll: Seconds between checks while the budget waits for another process's response.
        on_failure: ``closed`` (raise :class:`BudgetStoreError`) or ``local``.
        fallback_fraction: Share of each limit the local fallback budget allows, rounded
            down per window; a window whose share rounds to 0 grants nothing until Redis
            is back (never more than the fleet's share).
        recheck_seconds: How long to stay on the fallback before trying Redis again.
        timeout: Socket timeout of Redis calls, so a dead server never hangs a request.
        probe_lease: Seconds a cold-start probe holds the fleet's single flight (a probing
            process that dies frees it after this).
        cluster: Connect to a Redis Cluster (every script touches one hash slot).
        client: A ready ``redis.asyncio.Redis`` or ``RedisCluster`` to use instead of ``url``
            (not closed by the SDK).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``probe_lease``, ``cluster`` and ``client``; keys are hash-tagged for Redis Cluster.
    """

    url: str = attrs.field(default="redis://127.0.0.1:6379/0", repr=lambda url: repr(redact_url(url)))
    namespace: str = "salescaling"
    horizon: float = 180.0
    ambiguity: float = 5.0
    poll: float = 0.005
    on_failure: Literal["closed", "local"] = "closed"
    fallback_fraction: float = 0.25
    recheck_seconds: float = 5.0
    timeout: float = 1.0
    probe_lease: float = 5.0
    cluster: bool = False
    client: Any = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.on_failure not in ("closed", "local"):
            raise ConfigError("on_failure must be 'closed' or 'local'")
        if not 0 < self.fallback_fraction <= 1:
            raise ConfigError("fallback_fraction must be in (0, 1]")
        for name in ("horizon", "ambiguity", "poll", "recheck_seconds", "timeout", "probe_lease"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a finite number > 0, got {value!r}")

    def connect(self, limits: RateLimits, clock: Clock) -> RedisBackend:
        """Strictly private: the backend of one scheduler."""
        return RedisBackend(self, limits, clock)

    def make_scheduler(
        self, limits: RateLimits | None, *, on_event: Callable[[Event], None] | None, clock: Clock | None = None
    ) -> Scheduler:
        """Strictly private: a scheduler over this budget (kept for callers of 0.1.0)."""
        from ._scheduler import Scheduler

        return Scheduler(limits, clock=clock, on_event=on_event, budget=self)

    def redis_key(self, key: str, part: str = "log") -> str:
        """The Redis key of ``part`` (``log``/``meta``) of ``key``'s budget, hash-tagged."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.namespace}:{{{digest}}}:{part}"


class RedisBackend:
    """Strictly private. One scheduler's connection to Redis and its background writes."""

    def __init__(self, config: RedisBudget, limits: RateLimits, clock: Clock) -> None:
        self.config = config
        self.limits = limits
        self.clock = clock
        self._own_client = config.client is None
        self.redis: Any = config.client if config.client is not None else self._connect()
        self.acquire_script = self.redis.register_script(ACQUIRE)
        self.settle_script = self.redis.register_script(SETTLE)
        self.pause_script = self.redis.register_script(PAUSE)
        self.reseed_script = self.redis.register_script(RESEED)
        self.holds = {w.name.lower(): (w.limit, math.ceil((w.seconds + w.margin) * 1000)) for w in limits}
        self.max_hold_ms = max(h for _, h in self.holds.values())
        self.seconds_ms = {w.name.lower(): int(w.seconds * 1000) for w in limits}
        self.horizon_ms = int(config.horizon * 1000)
        self.ttl_ms = self.max_hold_ms + self.horizon_ms + 1000
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self._ready = not config.cluster
        self._ready_lock: asyncio.Lock | None = None

    async def ready(self) -> None:
        """Load a cluster's topology once, before concurrent calls (redis-py otherwise lets
        each first call rebuild it and close connections another call is using)."""
        if self._ready:
            return
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if not self._ready:
                await self.redis.initialize()
                self._ready = True

    def _connect(self) -> Any:
        kwargs: dict[str, Any] = {"socket_timeout": self.config.timeout, "socket_connect_timeout": self.config.timeout}
        if self.config.cluster:
            from redis.asyncio.cluster import RedisCluster

            return RedisCluster.from_url(self.config.url, **kwargs)
        import redis.asyncio as aioredis  # optional dependency, imported on use

        return aioredis.Redis.from_url(self.config.url, retry=None, **kwargs)

    def key_log(self, key: str) -> KeyLog:
        return RedisKeyLog(self, key)

    def spawn(self, coro: Any) -> None:
        if self.closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the injected clock."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        handle = self.clock.call_at(self.clock.now() + seconds, wake)
        try:
            await future
        finally:
            handle.cancel()

    async def aclose(self) -> None:
        """Let pending writes finish briefly, cancel the rest, close the connections."""
        self.closed = True
        if self.tasks:
            _done, pending = await asyncio.wait(set(self.tasks), timeout=self.config.timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._own_client:
            await self.redis.aclose()


class RedisKeyLog:
    """Strictly private. One key's shared log: the scheduler's :class:`~._stores.KeyLog`."""

    def __init__(self, backend: RedisBackend, key: str) -> None:
        self.backend = backend
        self.keys = [backend.config.redis_key(key, part) for part in ("log", "meta", "foreign")]
        self.gen = ""  # the generation this process last saw ("" before the first call)
        self.reseed_needed = False  # after an outage: write local grants back first
        self.own: dict[str, Slot] = {}  # this process's slots that may still be held
        self.prune_at = 256
        self.unwritten: list[tuple[str, list[Any]]] = []  # writes that failed: retried on success
        self.local_until = -math.inf
        self.fleet_held: list[int] = []  # slots the fleet held per window at the last answer
        self.fleet_at = -math.inf

    # -- the KeyLog interface -----------------------------------------------------------

    def local_share(self, now: float) -> tuple[float, float] | None:
        if now < self.local_until:
            return self.backend.config.fallback_fraction, self.local_until
        return None

    async def acquire(self, slot_id: str, limits: Sequence[int]) -> float:
        backend = self.backend
        args: list[Any] = [len(limits)]
        for window, limit in zip(backend.limits, limits, strict=True):
            args += [limit, backend.holds[window.name.lower()][1]]
        poll_ms = max(1, int(backend.config.poll * 1000))
        lease_ms = int(backend.config.probe_lease * 1000)
        for _ in range(3):  # a generation change costs one re-seed, then the call is repeated
            try:
                await backend.ready()
                if self.reseed_needed or self.unwritten:
                    await self._write_back()
                status, value, gen, *helds = await backend.acquire_script(
                    keys=self.keys,
                    args=[*args, backend.horizon_ms, poll_ms, slot_id, self.gen, uuid.uuid4().hex, lease_ms],
                )
            except Exception as exc:  # noqa: BLE001 - every Redis failure takes the configured path
                return self._on_failure(exc, slot_id)
            gen = gen.decode() if isinstance(gen, bytes) else str(gen)
            if int(status) == 2:  # the log was lost or rebuilt since we last saw it
                log.warning("redis budget log of a key was lost or rebuilt; re-seeding it with this process's slots")
                self.gen, self.reseed_needed = gen, True
                continue
            self.gen = gen
            if helds:
                self.fleet_held, self.fleet_at = [int(h) for h in helds], backend.clock.now()
            if int(status) == 1:
                return 0.0
            return max(int(value), 1) / 1000.0
        return backend.config.poll

    def granted(self, slot: Slot) -> None:
        self._track(slot)

    def fleet_view(self) -> tuple[float, list[int]] | None:
        if not self.fleet_held:
            return None
        return self.fleet_at + self.backend.config.timeout, self.fleet_held

    def settle(self, slot: Slot, outcome: str, headers: Sequence[WindowHeaders]) -> None:
        self._track(slot)
        if self.backend.closed:
            return  # the in-flight entry expires by itself (horizon)
        holds = self.backend.holds
        known = sorted(
            (holds[name][1], self.backend.seconds_ms[name], max(0, min(w.limit - w.remaining, holds[name][0])))
            for w in headers
            if (name := w.name.lower()) in holds and w.limit is not None and w.remaining is not None
        )
        counts: list[Any] = []
        previous = (-1, 0)  # the next shorter window's length (ms, rounded down) and count
        for hold, seconds_ms, count in known:
            counts += [hold, count, *previous]
            previous = (seconds_ms, count)
        args = [slot.id, outcome, int(self.backend.config.ambiguity * 1000), self.backend.ttl_ms, len(counts) // 4]
        self._write("settle", [*args, *counts, RAMP, REORDER_MS])

    def pause(self, seconds: float, windows: Sequence[str]) -> None:
        fills: list[Any] = []
        for name in windows:
            found = self.backend.holds.get(name.lower())
            if found is not None:
                fills += [found[0], found[1]]
        args = [
            math.ceil(seconds * 1000),
            self.backend.ttl_ms,
            len(fills) // 2,
            *fills,
            uuid.uuid4().hex,
            self.backend.max_hold_ms,
        ]
        self._write("pause", args)

    # -- internals ------------------------------------------------------------------------

    def _track(self, slot: Slot) -> None:
        """Remember own slots while they may be held (for re-seeding and write-back)."""
        if slot.state is SlotState.IN_FLIGHT or slot.anchor is not None:
            self.own[slot.id] = slot
            if len(self.own) >= self.prune_at:
                self._prune(self.backend.clock.now())
        else:
            self.own.pop(slot.id, None)

    def _prune(self, now: float) -> None:
        hold = self._max_hold()
        for slot_id, slot in list(self.own.items()):
            if slot.anchor is not None and slot.anchor + hold <= now:
                del self.own[slot_id]
        self.prune_at = max(256, 2 * len(self.own))

    def _on_failure(self, exc: Exception, slot_id: str) -> float:
        backend = self.backend
        log.warning("redis budget store failed (%s: %s); mode %s", type(exc).__name__, exc, backend.config.on_failure)
        # The script may have run and only its reply was lost: remove that slot by its id.
        self.unwritten.append(("settle", [slot_id, "returned", 0, backend.ttl_ms, 0, RAMP, REORDER_MS]))
        self.reseed_needed = True
        if backend.config.on_failure == "local":
            self.local_until = backend.clock.now() + backend.config.recheck_seconds
            return -1.0
        raise BudgetStoreError(f"redis budget store unavailable: {type(exc).__name__}: {exc}") from exc

    def _write(self, kind: str, args: list[Any]) -> None:
        self.backend.spawn(self._write_retrying(kind, args))

    async def _write_retrying(self, kind: str, args: list[Any]) -> None:
        script = self.backend.settle_script if kind == "settle" else self.backend.pause_script
        for delay in (0.05, 0.2, 0.5):
            try:
                await script(keys=self.keys, args=args)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then kept for the next successful call
                log.debug("redis %s failed (%s); retrying", kind, exc)
                await self.backend.sleep(delay)
        if len(self.unwritten) < 10_000:  # own slots are re-seeded anyway; this keeps pauses and removals
            self.unwritten.append((kind, args))
        self.reseed_needed = True

    async def _write_back(self) -> None:
        """Write what this process knows into the (possibly new) log: its own slots still
        held (re-seeding a lost log, or slots granted locally during an outage), then the
        writes that failed."""
        backend = self.backend
        now = backend.clock.now()
        entries: list[Any] = []
        for slot_id, slot in list(self.own.items()):
            if slot.state is SlotState.IN_FLIGHT:
                entries += [slot_id, "f", 0]
            elif slot.anchor is not None and slot.anchor + self._max_hold() > now:
                entries += [slot_id, "d", int((now - slot.anchor) * 1000)]
            else:
                del self.own[slot_id]
        if self.gen:
            await backend.reseed_script(keys=self.keys, args=[self.gen, backend.horizon_ms, backend.ttl_ms, *entries])
        while self.unwritten:
            kind, args = self.unwritten[0]
            script = backend.settle_script if kind == "settle" else backend.pause_script
            await script(keys=self.keys, args=args)
            self.unwritten.pop(0)
        self.reseed_needed = False

    def _max_hold(self) -> float:
        return self.backend.max_hold_ms / 1000.0


__all__ = ["RedisBudget"]
