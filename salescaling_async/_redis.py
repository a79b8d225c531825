"""Budgets shared by many processes and machines, on Redis (extra ``salescaling-async[redis]``).

The shared state of one API key is **one sorted set**: members are slots, scores are their
anchors in milliseconds of **Redis's own clock** (``TIME``), so machine clocks and skew never
matter.  It is changed only by atomic Lua scripts:

* ``acquire``: drop slots older than the longest hold, count the slots held in every window
  (``anchor > now - W - m``) and, if all windows have room, add an in-flight slot ``f:<id>``
  with a pessimistic anchor ``now + horizon``.  Otherwise answer how long to wait: exactly
  until the blocking slot expires, or a short poll when that slot is still in flight in some
  process (its real anchor is not known yet).
* ``settle``: replace ``f:<id>`` by ``d:<id>`` anchored at the receive time (Redis clock, a
  little later than the real receipt: conservative), by ``now + ambiguity`` for a failure
  after sending, or remove it when nothing was sent.
* ``fill``: after a 429, add phantom slots ``p:<id>`` so the named window is full for every
  process.

A crashed process's in-flight slots keep their pessimistic anchor and expire by themselves
``horizon + W`` later; every call also sets the key's TTL, so idle keys vanish and memory per
key is bounded by the largest limit plus the requests in flight.

Within one process queued requests wait in the local FIFO lanes and **only the head of the
queue talks to Redis**: one pump task per key, which sleeps for the script's answer (or until
a local response frees a slot) instead of polling.

When Redis fails, ``on_failure="closed"`` raises :class:`BudgetStoreError` to the waiters;
``on_failure="local"`` keeps going on a local budget holding ``fallback_fraction`` of the
limits (every process of a fleet falling back together stays within the limits when the
fraction is at most 1/number of processes), and retries Redis after ``recheck_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ._budget import KeyBudget, Slot
from ._config import RateLimits, Window
from ._errors import BudgetStoreError, ConfigError, DeadlineExceededError
from ._events import Event, RateLimitHit, ThrottleWait
from ._lanes import Lanes, Waiter
from ._scheduler import KeyStatistics
from ._types import Priority

log = logging.getLogger("salescaling_async")

ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2 + 2 * n])
local poll = tonumber(ARGV[3 + 2 * n])
local maxhold = 0
for i = 1, n do
  local hold = tonumber(ARGV[1 + 2 * i])
  if hold > maxhold then maxhold = hold end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - maxhold)
local wait = 0
for i = 1, n do
  local limit = tonumber(ARGV[2 * i])
  local hold = tonumber(ARGV[1 + 2 * i])
  local floor = '(' .. (now - hold)
  local held = redis.call('ZCOUNT', KEYS[1], floor, '+inf')
  if held >= limit then
    local entry = redis.call('ZRANGEBYSCORE', KEYS[1], floor, '+inf', 'WITHSCORES', 'LIMIT', held - limit, 1)
    local w
    if string.sub(entry[1], 1, 2) == 'f:' then w = poll else w = tonumber(entry[2]) + hold - now + 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, wait} end
redis.call('ZADD', KEYS[1], now + horizon, 'f:' .. ARGV[4 + 2 * n])
redis.call('PEXPIRE', KEYS[1], maxhold + horizon + 1000)
return {1, now}
"""

SETTLE = """
if redis.call('ZREM', KEYS[1], 'f:' .. ARGV[1]) == 0 then return 0 end
if ARGV[2] == 'returned' then return 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local anchor = now
if ARGV[2] == 'ambiguous' then anchor = now + tonumber(ARGV[3]) end
redis.call('ZADD', KEYS[1], anchor, 'd:' .. ARGV[1])
return 1
"""

FILL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local hold = tonumber(ARGV[2])
local held = redis.call('ZCOUNT', KEYS[1], '(' .. (now - hold), '+inf')
local added = 0
for i = 1, limit - held do
  redis.call('ZADD', KEYS[1], now, 'p:' .. ARGV[3] .. ':' .. i)
  added = added + 1
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return added
"""


@attrs.frozen
class RedisBudget:
    """Configuration of a budget shared through Redis.

    Args:
        url: ``redis://host:port/db``.
        namespace: Prefix of every Redis key (keys carry a hash of the API key, never the key).
        horizon: Seconds an in-flight slot is assumed to last (longer than any request).
        ambiguity: Extra seconds a failure after sending is held.
        poll: Seconds between checks while the budget waits for another process's response.
        on_failure: ``closed`` (raise :class:`BudgetStoreError`) or ``local``.
        fallback_fraction: Share of each limit the local fallback budget allows.
        recheck_seconds: How long to stay on the fallback before trying Redis again.
        timeout: Socket timeout of Redis calls, so a dead server never hangs a request.

    .. versionadded:: 0.1.0
    """

    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "salescaling"
    horizon: float = 180.0
    ambiguity: float = 5.0
    poll: float = 0.005
    on_failure: Literal["closed", "local"] = "closed"
    fallback_fraction: float = 0.25
    recheck_seconds: float = 5.0
    timeout: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.on_failure not in ("closed", "local"):
            raise ConfigError("on_failure must be 'closed' or 'local'")
        if not 0 < self.fallback_fraction <= 1:
            raise ConfigError("fallback_fraction must be in (0, 1]")

    def make_scheduler(self, limits: RateLimits | None, *, on_event: Callable[[Event], None] | None) -> RedisScheduler:
        """Strictly private: the scheduler a client uses with this budget."""
        return RedisScheduler(self, limits or RateLimits(), on_event=on_event)


def _fraction(limits: RateLimits, fraction: float) -> RateLimits:
    return RateLimits(tuple(Window(w.name, max(1, math.floor(w.limit * fraction)), w.seconds) for w in limits))


class _RedisSlot:
    """Strictly private. A slot held in Redis (``in_redis``) and mirrored in the local log.

    The mirror means a fallback to the local budget starts knowing this process's own recent
    traffic instead of an empty log.
    """

    __slots__ = ("id", "in_redis", "local")

    def __init__(self, slot_id: str, local: Slot, *, in_redis: bool) -> None:
        self.id = slot_id
        self.local = local
        self.in_redis = in_redis


class _Key:
    """Strictly private. Local queue, pump and counters of one key."""

    def __init__(self, name: str, fallback: RateLimits) -> None:
        self.name = name
        self.lanes: Lanes[_RedisSlot] = Lanes()
        self.wake = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None
        self.fallback = KeyBudget(fallback)
        self.local_until = -math.inf
        self.paused_until = -math.inf
        self.granted = self.rate_limited = self.round_trips = 0
        self.waited = 0.0


class RedisPermit:
    """Strictly private. Settles one Redis slot (in a background task: settling is async)."""

    __slots__ = ("_key", "_sched", "_slot")

    def __init__(self, sched: RedisScheduler, key: _Key, slot: _RedisSlot) -> None:
        self._sched, self._key, self._slot = sched, key, slot

    def received(self, headers: Mapping[str, str] | None = None) -> None:
        self._sched._settle(self._key, self._slot, "received")

    def failed(self, *, sent: bool) -> None:
        self._sched._settle(self._key, self._slot, "ambiguous" if sent else "returned")


class RedisScheduler:
    """Strictly private. The scheduler of a client whose budget lives in Redis."""

    def __init__(self, config: RedisBudget, limits: RateLimits, *,
                 on_event: Callable[[Event], None] | None = None) -> None:  # fmt: skip
        import redis.asyncio as aioredis  # optional dependency, imported on use

        self.config = config
        self.limits = limits
        self.on_event = on_event
        self.redis = aioredis.Redis.from_url(
            config.url, socket_timeout=config.timeout, socket_connect_timeout=config.timeout, retry=None
        )
        self._acquire = self.redis.register_script(ACQUIRE)
        self._settle_script = self.redis.register_script(SETTLE)
        self._fill = self.redis.register_script(FILL)
        self._keys: dict[str, _Key] = {}
        self._sweep_at = 64
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fallback = _fraction(limits, config.fallback_fraction)
        self._seq = itertools.count()
        holds = [(w.limit, math.ceil((w.seconds + w.margin) * 1000)) for w in limits]
        self._args: list[Any] = [len(holds)]
        for limit, hold in holds:
            self._args += [limit, hold]
        self._args += [int(config.horizon * 1000), max(1, int(config.poll * 1000))]
        self._max_hold_ms = max(h for _, h in holds)

    def redis_key(self, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.config.namespace}:budget:{digest}"

    # -- the Scheduler interface ------------------------------------------------------------

    async def acquire(self, key: str, *, priority: Priority = Priority.INTERACTIVE,
                      deadline: float | None = None) -> RedisPermit:  # fmt: skip
        state = self._state(key)
        loop = asyncio.get_running_loop()
        waiter: Waiter[_RedisSlot] = Waiter(loop.create_future(), priority, deadline, loop.time())
        state.lanes.push(waiter)
        if state.pump is None or state.pump.done():
            state.pump = loop.create_task(self._pump(state))
        state.wake.set()
        try:
            slot = await waiter.future
        except asyncio.CancelledError:
            fut = waiter.future
            if not fut.done():
                fut.cancel()
            if fut.cancelled():  # still queued: it leaves the lane (dropped lazily)
                state.lanes.left()
            elif fut.exception() is None:  # granted before we resumed: give the slot back
                self._settle(state, fut.result(), "returned")
            raise
        return RedisPermit(self, state, slot)

    def rate_limited(self, key: str, hints: dict[str | None, float], fallback: float) -> float:
        state = self._state(key)
        state.rate_limited += 1
        for name in hints:
            window = next((w for w in self.limits if name and w.name.lower() == name.lower()), None)
            if window is not None:
                hold = math.ceil((window.seconds + window.margin) * 1000)
                ttl = self._max_hold_ms + int(self.config.horizon * 1000)
                self._spawn(self._fill(keys=[self.redis_key(key)], args=[window.limit, hold, uuid.uuid4().hex, ttl]))
        pause = max(hints.values(), default=fallback) + 0.002
        state.paused_until = max(state.paused_until, asyncio.get_running_loop().time() + pause)
        self._emit(RateLimitHit(key=key, hints=dict(hints), paused_for=pause))
        return pause

    def statistics(self, key: str) -> KeyStatistics:
        state = self._keys.get(key) or _Key(key, self._fallback)
        paused = max(0.0, state.paused_until - asyncio.get_running_loop().time())
        return KeyStatistics(
            key=key, held={}, limits={w.name: w.limit for w in self.limits}, in_flight=0,
            queued=state.lanes.by_lane(),
            granted=state.granted, waited_seconds=state.waited, rate_limited=state.rate_limited,
            phantom_hits=0, wakeups=state.round_trips, next_grant_in=0.0, paused_for=paused,
        )  # fmt: skip

    @property
    def tracked_keys(self) -> int:
        return len(self._keys)

    def round_trips(self, key: str) -> int:
        """Acquire-script calls made for ``key`` (for the round-trips-per-grant figure)."""
        state = self._keys.get(key)
        return state.round_trips if state else 0

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.redis.aclose()

    def __repr__(self) -> str:
        return f"<RedisScheduler {self.config.url} keys={len(self._keys)}>"

    # -- internals --------------------------------------------------------------------------

    def _state(self, key: str) -> _Key:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= self._sweep_at:  # amortised eviction of keys gone idle
                now = asyncio.get_running_loop().time()
                for name, old in list(self._keys.items()):
                    if (old.pump is None or old.pump.done()) and old.fallback.is_idle(now):
                        del self._keys[name]
                self._sweep_at = max(64, 2 * len(self._keys))
            state = self._keys[key] = _Key(key, self._fallback)
        return state

    def _expire(self, state: _Key, now: float) -> None:
        for waiter in list(state.lanes.live()):
            if waiter.deadline is not None and waiter.deadline <= now:
                state.lanes.fail(waiter, DeadlineExceededError("deadline reached waiting for budget", retry_after=None))

    async def _pump(self, state: _Key) -> None:
        """Serve the key's queue head by head; the only code that asks Redis for slots."""
        loop = asyncio.get_running_loop()
        while True:
            self._expire(state, loop.time())
            head = state.lanes.peek()
            if head is None:
                if state.fallback.is_idle(loop.time()):  # forget it only once the mirror is empty
                    self._keys.pop(state.name, None)
                return
            wait = await self._try_grant(state, head, loop)
            if wait is None:
                continue
            state.wake.clear()
            if head.deadline is not None and loop.time() + wait > head.deadline:
                state.lanes.fail(head, DeadlineExceededError("rate budget cannot grant within the deadline",
                                                             retry_after=wait))  # fmt: skip
                continue
            with contextlib.suppress(asyncio.TimeoutError):  # woken early by a local response, or not
                await asyncio.wait_for(state.wake.wait(), wait)

    async def _try_grant(self, state: _Key, head: Waiter[_RedisSlot], loop: asyncio.AbstractEventLoop) -> float | None:
        """Grant ``head`` (returning None) or return how long to wait."""
        slot_id = f"{next(self._seq)}:{uuid.uuid4().hex[:12]}"
        if loop.time() < state.paused_until:  # a 429 paused the whole key in this process
            return state.paused_until - loop.time()
        if loop.time() < state.local_until:
            delay = state.fallback.delay(loop.time())
            if delay > 0:
                return min(delay, state.local_until - loop.time()) if delay != math.inf else self.config.poll
            self._grant(state, head, _RedisSlot(slot_id, state.fallback.acquire(loop.time()), in_redis=False), loop)
            return None
        try:
            state.round_trips += 1
            granted, value = await self._acquire(keys=[self.redis_key(state.name)], args=[*self._args, slot_id])
        except Exception as exc:  # noqa: BLE001 - every Redis failure takes the configured path
            return self._on_failure(state, exc, loop)
        if int(granted):
            slot = _RedisSlot(slot_id, state.fallback.acquire(loop.time(), record_only=True), in_redis=True)
            if head.future.done():  # cancelled while we asked: give the slot back
                self._settle(state, slot, "returned")
            else:
                self._grant(state, head, slot, loop)
            return None
        return int(value) / 1000.0

    def _grant(self, state: _Key, head: Waiter[_RedisSlot], slot: _RedisSlot, loop: asyncio.AbstractEventLoop) -> None:
        state.lanes.grant(head, slot)
        state.granted += 1
        waited = loop.time() - head.enqueued_at
        state.waited += waited
        if waited > 0.001:
            self._emit(ThrottleWait(key=state.name, waited=waited, priority=head.priority))

    def _on_failure(self, state: _Key, exc: Exception, loop: asyncio.AbstractEventLoop) -> float:
        log.warning("redis budget store failed (%s: %s); mode %s", type(exc).__name__, exc, self.config.on_failure)
        if self.config.on_failure == "local":
            state.local_until = loop.time() + self.config.recheck_seconds
            return 0.0
        error = BudgetStoreError(f"redis budget store unavailable: {type(exc).__name__}: {exc}")
        for waiter in list(state.lanes.live()):
            state.lanes.fail(waiter, error)
        return 0.0

    def _settle(self, state: _Key, slot: _RedisSlot, mode: str) -> None:
        now = asyncio.get_running_loop().time()
        if mode == "received":
            state.fallback.received(slot.local, now)
        elif mode == "ambiguous":
            state.fallback.ambiguous(slot.local, now)
        else:
            state.fallback.returned(slot.local)
        if slot.in_redis:
            args: list[str | int] = [slot.id, mode, int(self.config.ambiguity * 1000)]
            self._spawn(self._settle_script(keys=[self.redis_key(state.name)], args=args))
        state.wake.set()

    def _spawn(self, coro: Any) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:  # noqa: BLE001 - an unsettled slot expires by itself
                log.warning("redis settle failed: %s: %s", type(exc).__name__, exc)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("salescaling event hook failed")


__all__ = ["RedisBudget"]
