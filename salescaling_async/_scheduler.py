"""The scheduler shell: one FIFO queue per lane and one timer per API key. Strictly private.

Every request of every client view passes through :meth:`Scheduler.acquire`, which returns a
:class:`Permit` holding one slot of the key's budget.  The shell is the same whatever the
budget store (``_stores.py``): the in-process log or a shared one (Redis).  They differ only
in where the response-anchored log lives; the budget math is pure (``_budget.py``); this
module turns "grant possible in d seconds" into waits, on the injected :class:`Clock` only.

Design (after aiolimiter's ``_waiters``/``_waker_handle``):

* **Synchronous grants.**  With the local store a grant is decided and recorded in one
  synchronous call (``_dispatch``) with no ``await`` between checking the budget and taking
  the slot, so two tasks can never both see the last free slot.  With a shared store only
  the head of the key's queue talks to the store: one round trip at a time per key
  (``_remote_round``), whose answer is handled synchronously again.  A wake-up that happens
  during the round trip (a local response freed a slot) is remembered (``redo``), never lost.
* **One timer per key, no polling.**  When the head must wait, the key arms a single timer
  for the moment the budget frees (or the earliest waiter deadline).  If the budget waits
  for in-flight responses (infinite delay) no timer is armed: the response's permit calls
  ``_dispatch`` again.  10,000 waiters cost one wake-up per grant, not 10,000.
* **Cancellation safety.**  A waiter cancelled while queued is skipped lazily.  A waiter
  cancelled after its future got a slot but before it resumed gives that slot straight back.
* **Lanes.**  Interactive waiters go first; after ``bulk_every`` interactive grants in a row
  while bulk waiters wait, one bulk waiter is served, so bulk never starves.  While
  interactive requests come, bulk may not take the interactive reserve and is paced to the
  binding window's rate (``bulk_pacing``): a reserve refilled only by a burst every window
  would be empty between bursts.
* **Cold start.**  Until a key has learned the server's view (responses carrying
  rate-limit headers within the longest window), at most one request of the key is in
  flight: an earlier process's hits still in the server's windows arrive as phantom hits
  with those responses.  It takes two such answers, one after the other: the first may
  predate requests a process that just died still had on the wire.  A server that sends
  no such headers gets a conservative ramp: single flight for the first ``COLD_RAMP``
  responses, then open.  Shared stores apply the
  same rule fleet-wide inside the store.
* **Pause on 429.**  :meth:`Permit.rate_limited` settles the slot and pauses the key in one
  synchronous step before anything else is dispatched; a shared store pauses every process.
  A 429 without a hint backs off exponentially with jitter (``RetryConfig``), never below the
  shortest window.
* **Eviction.**  A key whose budget holds nothing and has no waiters is forgotten: keys are
  kept in the order they were last asked for, and a request looks at the oldest few
  (``_evict``) once the oldest can be idle, so a key is gone about one longest window after
  it went idle, at O(1) cost per request whatever the number of keys.

Size: ~930 lines; style.md allows the scheduler to be the exception: dense concurrency code
is easier to check when every rule it combines is in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import logging
import math
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from ._backoff import WindowHeaders, rate_limit_headers
from ._budget import INFINITY, KeyBudget, Slot
from ._clock import Clock, LoopClock, TimerHandle
from ._config import RateLimits, RetryConfig
from ._errors import BudgetStoreError, ClientClosedError, ConfigError, DeadlineExceededError, QueueFullError
from ._events import Event, RateLimitHit, ThrottleWait
from ._lanes import BULK_EVERY, Lanes, Waiter
from ._stores import BudgetStore, KeyLog, LocalBudget
from ._types import Priority

log = logging.getLogger("salescaling_async")

PROBES = 2
"""Answers with rate-limit headers, one at a time, a cold key waits for before it opens."""

NEVER = -INFINITY
"""One shared float for "never" (every idle key would hold a few copies of it otherwise)."""


EVICT_BATCH = 32
"""Most idle keys one request evicts (the eviction is spread over requests, never a pause)."""

COLD_RAMP = 4
"""Header-less responses a key needs, one at a time, before it opens up (servers without
rate-limit headers: the conservative ramp)."""


def key_id(api_key: str) -> str:
    """A short, stable, non-reversible name for an API key (logs, stats, Redis keys)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@attrs.frozen
class KeyStatistics:
    """A frozen snapshot of one key's scheduling state.

    Attributes:
        key: Hash of the API key (never the key itself).
        held: Slots held per window (in flight or not yet expired) by this process.
        limits: Effective limit per window (may be lower than configured, learned from headers).
        in_flight: Requests granted and not yet settled.
        queued: Waiters per lane.
        granted: Grants since the key's state was created.
        waited_seconds: Total time granted requests spent queued.
        rate_limited: 429 responses seen.
        phantom_hits: Hits by other users of the key, learned from headers.
        wakeups: Timer firings.
        next_grant_in: Seconds until the next grant is possible (``inf``: waiting for a response).
        paused_for: Seconds left in a 429 pause (0 when not paused).
        store_calls: Round trips to a shared budget store (0 for the local one).
        granted_by_lane: Grants per lane (``interactive``/``bulk``).
        waited_by_lane: Seconds granted requests of each lane spent queued.

    .. versionadded:: 0.1.0
    """

    key: str
    held: Mapping[str, int]
    limits: Mapping[str, int]
    in_flight: int
    queued: Mapping[str, int]
    granted: int
    waited_seconds: float
    rate_limited: int
    phantom_hits: int
    wakeups: int
    next_grant_in: float
    paused_for: float
    store_calls: int = 0
    granted_by_lane: Mapping[str, int] = attrs.field(factory=dict)
    waited_by_lane: Mapping[str, float] = attrs.field(factory=dict)


class _KeyState:
    """Strictly private. Queue, budget view, store log, timer and counters of one key."""

    __slots__ = (
        "bulk_next",
        "call",
        "deadlines",
        "granted",
        "granted_bulk",
        "headerless",
        "lanes",
        "last_bulk",
        "last_interactive",
        "name",
        "phantoms",
        "probe_until",
        "probes",
        "rate_limited",
        "redo",
        "remote",
        "store_calls",
        "store_wait_until",
        "strikes",
        "timer",
        "timer_at",
        "touched",
        "view",
        "waited",
        "waited_bulk",
        "wakeups",
        "warm_until",
        "watch_next",
    )

    def __init__(self, name: str, limits: RateLimits, lanes: Lanes[Slot], remote: KeyLog | None) -> None:
        self.name = name
        self.view = KeyBudget(limits)
        self.remote = remote
        # The scheduler's shared empty lanes until the key's first waiter (``acquire``): most
        # keys of a multi-tenant process never queue, and an object less per key is one less
        # for the garbage collector to walk.
        self.lanes = lanes
        self.deadlines: list[tuple[float, int, Waiter[Slot]]] | None = None  # a heap, made on first use
        self.timer: TimerHandle | None = None
        self.timer_at = INFINITY
        self.call: asyncio.Task[None] | None = None  # the one store round trip in progress
        self.redo = False  # something changed during that round trip: ask again at once
        self.store_wait_until = NEVER  # the store said: not before then
        self.warm_until = NEVER  # the key knows the server's view until then (cold start)
        self.headerless = 0
        self.probes = 0  # answers with rate-limit headers while cold
        self.probe_until = NEVER  # a cold key seeing recent foreign hits stays closed until then
        self.watch_next = NEVER  # meanwhile its grants are paced: not before then
        self.strikes = 0  # hintless 429s in a row
        self.last_interactive = NEVER  # when an interactive request last asked
        self.bulk_next = NEVER  # bulk pacing: no bulk grant before then
        self.last_bulk = NEVER  # when bulk was last granted
        self.granted_bulk = 0  # of ``granted``, the bulk lane's
        self.waited_bulk = 0.0
        self.granted = 0
        self.waited = 0.0  # of the interactive lane (``waited_bulk``: of the bulk lane)
        self.rate_limited = 0
        self.phantoms = 0
        self.wakeups = 0
        self.store_calls = 0
        self.touched = NEVER  # when a request last asked for the key (idle eviction)


class Permit:
    """One granted slot; settle it exactly once with the request's outcome.

    Strictly private (exposed through hooks only).
    """

    __slots__ = ("_scheduler", "_slot", "_state")

    def __init__(self, scheduler: Scheduler, state: _KeyState, slot: Slot) -> None:
        self._scheduler = scheduler
        self._state = state
        self._slot = slot

    def received(self, headers: Mapping[str, str] | None = None) -> None:
        """A response (not a 429) arrived now: anchor the slot and learn from its headers."""
        state = self._state
        state.strikes = 0
        self._scheduler._received(state, self._slot, headers)
        if state.lanes.queued or state.deadlines or state.timer is not None:  # else nothing to dispatch
            self._scheduler._dispatch(state)

    def rate_limited(
        self,
        headers: Mapping[str, str] | None,
        hints: dict[str | None, float],
        retry: RetryConfig | None = None,
    ) -> float:
        """A 429 arrived now: settle the slot and pause the key in one step; return the pause.

        ``hints`` are the response's parsed ``Retry-After*`` values (parsed once, by the
        caller, who also puts them on the error).  Without hints the pause is an exponential
        backoff with jitter after ``retry``, never shorter than the shortest window.
        """
        sched, state = self._scheduler, self._state
        sched._received(state, self._slot, headers)
        pause = sched._pause(state, hints, retry)  # before anything else can be dispatched
        sched._dispatch(state)
        return pause

    def failed(self, *, sent: bool) -> None:
        """No response: return the slot if nothing was sent, else hold it conservatively."""
        sched, state = self._scheduler, self._state
        if sent:
            state.view.ambiguous(self._slot, sched.clock.now())
        else:
            state.view.returned(self._slot)
        if state.remote is not None and self._slot.id:
            state.remote.settle(self._slot, "ambiguous" if sent else "returned", ())
            sched._freed(state)
        sched._dispatch(state)


class PermitLike(Protocol):
    """Strictly private. What the pipeline does with a granted slot."""

    def received(self, headers: Mapping[str, str] | None = None) -> None: ...

    def rate_limited(
        self, headers: Mapping[str, str] | None, hints: dict[str | None, float], retry: RetryConfig | None = None
    ) -> float: ...

    def failed(self, *, sent: bool) -> None: ...


class SchedulerLike(Protocol):
    """Strictly private. What the session needs of a scheduler."""

    limits: RateLimits

    async def acquire(self, key: str, *, priority: Priority = ..., deadline: float | None = ...) -> PermitLike: ...

    def try_acquire(self, key: str, *, priority: Priority = ...) -> PermitLike | None: ...

    def rate_limited(self, key: str, hints: dict[str | None, float], fallback: float) -> float: ...

    def statistics(self, key: str) -> KeyStatistics: ...

    @property
    def tracked_keys(self) -> int: ...

    async def aclose(self) -> None: ...


class Scheduler:
    """Keeps every API key within all of its windows at once.

    Args:
        limits: The windows applied to every key.
        clock: Time and timers (the running loop's by default).
        bulk_every: After this many interactive grants in a row, one waiting bulk request
            is served.
        on_event: Called synchronously with every :class:`Event`; exceptions are logged.
        budget: Where the keys' logs live (:class:`~._stores.BudgetStore`; in this process
            by default, or :class:`~salescaling_async.RedisBudget`).
        max_queue: Most waiters one key may queue; one more raises :class:`QueueFullError`
            at once (``None``: unbounded).
        cold_start: Single flight per key until it learned the server's view (see the
            module docstring); switch off only for servers known to be idle.
        seed: Seed of the jitter of hintless-429 backoff.
        interactive_reserve: Share of every window (rounded down) that bulk requests may not
            take while interactive requests keep coming, so an interactive request under a
            saturating bulk load finds a slot at once (``0`` switches it off).
        reserve_idle: Seconds without an interactive request after which the reserve is lent
            to bulk (bulk never starves; a lent slot is back within one window).
        bulk_pacing: While interactive requests come (within ``reserve_idle``), spread bulk
            grants evenly: every grant of either lane moves bulk's next grant on by one slot
            of the binding window (the longest hold per slot of any window, the reserve left
            out), so the key runs at its sustained rate, slots free one by one and the
            reserve is refilled between interactive requests.  On by default because it is
            what makes the reserve work: measured with the default windows, a 5 % reserve
            and an interactive request every 0.2 s under 50 bulk tasks, bursting bulk left
            interactive requests waiting for the short window's next burst (p99 ~600 ms)
            and, once the long window filled 10 s before its first expiry, for seconds;
            paced bulk grants every one at once, for about 5 % of the key's throughput
            over a minute (the reserve) and more in the first minute (no early burst).
            Without interactive traffic bulk is never paced.

    .. versionchanged:: 0.2.0
       ``budget``, ``max_queue``, ``cold_start``, ``seed``, ``interactive_reserve``,
       ``reserve_idle`` and ``bulk_pacing``.
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Clock | None = None,
        bulk_every: int = BULK_EVERY,
        on_event: Callable[[Event], None] | None = None,
        budget: BudgetStore | None = None,
        max_queue: int | None = None,
        cold_start: bool = True,
        seed: int | None = None,
        interactive_reserve: float = 0.05,
        reserve_idle: float = 1.0,
        bulk_pacing: bool = True,
    ) -> None:
        self.limits = limits or RateLimits()
        self.clock: Clock = clock or LoopClock()
        self.bulk_every = bulk_every
        self.on_event = on_event
        self.max_queue = max_queue
        self.cold_start = cold_start
        if not 0 <= interactive_reserve < 1 or not reserve_idle >= 0:
            raise ConfigError("interactive_reserve must be in [0, 1) and reserve_idle >= 0")
        self.interactive_reserve = interactive_reserve
        self.reserve_idle = reserve_idle
        self.bulk_pacing = bulk_pacing
        self.budget: BudgetStore = budget or LocalBudget()
        self.store = self.budget.connect(self.limits, self.clock)
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()  # least recently asked for first
        self._seq = itertools.count()
        self._slot_ids = itertools.count()
        self._token = uuid.uuid4().hex[:12]  # this scheduler's slot ids are unique fleet-wide
        self._rng = random.Random(seed)
        self._closed = False
        self._shortest = min(w.seconds for w in self.limits)
        self._lengths = sorted((w.seconds, w.name.lower()) for w in self.limits)  # header names, shortest first
        self._evict_after = NEVER  # no key can be idle before then (see _evict)
        self._idle_lanes: Lanes[Slot] = Lanes(bulk_every)  # every key's until it queues: never pushed to

    # -- public operations ----------------------------------------------------------------

    async def acquire(
        self,
        key: str,
        *,
        priority: Priority = Priority.INTERACTIVE,
        deadline: float | None = None,
    ) -> Permit:
        """Wait for a slot of ``key`` in every window and return it as a :class:`Permit`.

        Args:
            key: The key's id (see :func:`key_id`).
            priority: The lane to wait in.
            deadline: Clock time by which the grant must happen; if the budget proves it
                cannot, :class:`DeadlineExceededError` is raised at once (or at the deadline).

        Raises:
            QueueFullError: ``max_queue`` waiters already wait for this key.
            ClientClosedError: The scheduler was closed (also raised to every waiter).
        """
        state, now, permit = self._ask(key, priority)
        if permit is not None:
            return permit  # fast path: no future, no await
        self._check_admission(state, now, priority, deadline)
        loop = asyncio.get_running_loop()
        waiter: Waiter[Slot] = Waiter(loop.create_future(), priority, deadline, now)
        if state.lanes is self._idle_lanes:  # the key's first waiter: its own lanes from now on
            state.lanes = Lanes(self.bulk_every)
        state.lanes.push(waiter)
        if deadline is not None:
            if state.deadlines is None:
                state.deadlines = []
            heapq.heappush(state.deadlines, (deadline, next(self._seq), waiter))
        self._dispatch(state)
        try:
            slot = await waiter.future
        except asyncio.CancelledError:
            self._abandon(state, waiter)
            raise
        return Permit(self, state, slot)

    def try_acquire(self, key: str, *, priority: Priority = Priority.INTERACTIVE) -> Permit | None:
        """A slot of ``key`` if the budget grants one now, else ``None``: the first step of
        :meth:`acquire`, synchronous, so a caller whose slot is free spends no coroutine.

        ``None`` leaves nothing behind but what :meth:`acquire` does first anyway (the key is
        asked for, hence kept); call :meth:`acquire` then to queue.

        Raises:
            ClientClosedError: The scheduler was closed.
        """
        return self._ask(key, priority)[2]

    def _ask(self, key: str, priority: Priority) -> tuple[_KeyState, float, Permit | None]:
        """The first step of every request for a slot: the key's state, the time, and a permit
        if the budget grants one now (nobody of the key queued, no local delay, a local log)."""
        if self._closed:
            raise ClientClosedError("the scheduler is closed")
        now = self.clock.now()
        state = self._state(key, now)
        if priority is Priority.INTERACTIVE:
            state.last_interactive = now
        if state.remote is None and not state.lanes.queued and not self._local_delay(state, now, priority):
            return state, now, self._grant_now(state, now, priority)
        return state, now, None

    def rate_limited(self, key: str, hints: dict[str | None, float], fallback: float) -> float:
        """Record a 429 for ``key`` without a permit: pause it for the hints (or ``fallback``).

        Prefer :meth:`Permit.rate_limited`, which settles and pauses in one step.
        """
        state = self._state(key)
        pause = self._pause(state, hints, None, fallback=fallback)
        self._dispatch(state)
        return pause

    def statistics(self, key: str) -> KeyStatistics:
        """A snapshot of ``key``'s state (an untouched key shows an empty budget)."""
        state = self._keys.get(key) or _KeyState(key, self.limits, self._idle_lanes, None)
        now = self.clock.now()
        snap = state.view.snapshot(now)
        return KeyStatistics(
            key=key,
            held=snap.held,
            limits=snap.limits,
            in_flight=snap.in_flight,
            queued=state.lanes.by_lane(),
            granted=state.granted,
            waited_seconds=state.waited + state.waited_bulk,
            rate_limited=state.rate_limited,
            phantom_hits=state.phantoms,
            wakeups=state.wakeups,
            next_grant_in=snap.next_grant_in,
            paused_for=max(0.0, snap.paused_until - now),
            store_calls=state.store_calls,
            granted_by_lane={
                Priority.INTERACTIVE.value: state.granted - state.granted_bulk,
                Priority.BULK.value: state.granted_bulk,
            },
            waited_by_lane={
                Priority.INTERACTIVE.value: state.waited,
                Priority.BULK.value: state.waited_bulk,
            },
        )

    def round_trips(self, key: str) -> int:
        """Store round trips made for ``key`` (the Redis round-trips-per-grant figure)."""
        state = self._keys.get(key)
        return state.store_calls if state else 0

    @property
    def tracked_keys(self) -> int:
        """How many keys currently have state (idle keys are evicted)."""
        return len(self._keys)

    async def aclose(self) -> None:
        """Fail every queued waiter with :class:`ClientClosedError` at once and stop the store.

        Queued waiters hold no slot, so nothing is held for them.  Store round trips in
        progress are cancelled and nothing reconnects afterwards; granted permits may still
        settle locally.
        """
        if self._closed:
            return
        self._closed = True
        error = ClientClosedError("the client was closed while the request waited for rate budget")
        calls = []
        for state in self._keys.values():
            state.lanes.fail_all(error)
            state.deadlines = None
            if state.timer is not None:
                state.timer.cancel()
                state.timer, state.timer_at = None, INFINITY
            if state.call is not None:
                state.call.cancel()
                calls.append(state.call)
        for call in calls:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await call
        await self.store.aclose()

    def __repr__(self) -> str:
        parts = []
        for name, state in list(self._keys.items())[:5]:
            snap = state.view.snapshot(self.clock.now())
            parts.append(f"{name}: held={snap.held} queued={state.lanes.queued} granted={state.granted}")
        more = f" +{len(self._keys) - 5} more" if len(self._keys) > 5 else ""
        return f"<Scheduler {self.budget!r} keys={len(self._keys)} [{'; '.join(parts)}]{more}>"

    # -- internals: keys ------------------------------------------------------------------

    def _state(self, key: str, now: float | None = None) -> _KeyState:
        """The key's state, made if needed, moved to the recent end; idle keys are evicted."""
        if now is None:
            now = self.clock.now()
        keys = self._keys
        try:
            keys.move_to_end(key)
            state = keys[key]
        except KeyError:
            state = keys[key] = _KeyState(key, self.limits, self._idle_lanes, self.store.key_log(key))
        state.touched = now
        if now >= self._evict_after:
            self._evict(now)
        return state

    def _evict(self, now: float) -> None:
        """Forget keys that hold nothing, oldest request first, a few per request.

        Keys are in the order they were last asked for, so only the oldest needs a look: one
        asked for less than its longest hold ago may still hold a slot.  A key that is not
        idle yet (in flight, queued, paused) goes to the back and is looked at again later.
        """
        keys = self._keys
        for _ in range(EVICT_BATCH):
            name, state = next(iter(keys.items()))
            if state.touched + state.view.longest_hold > now:
                # keys only move to the back when asked for: nobody is idle before this
                self._evict_after = state.touched + state.view.longest_hold
                return
            if self._is_idle(state, now):
                del keys[name]
            else:
                state.touched = now
                keys.move_to_end(name)

    def _sweep(self) -> None:
        """Forget every idle key at once (the amortised :meth:`_evict` does it in steps)."""
        now = self.clock.now()
        for name, state in list(self._keys.items()):
            if self._is_idle(state, now):
                del self._keys[name]

    def _is_idle(self, state: _KeyState, now: float) -> bool:
        return not state.lanes.queued and state.timer is None and state.call is None and state.view.is_idle(now)

    # -- internals: grants ----------------------------------------------------------------

    def _keep(self, state: _KeyState, now: float, priority: Priority) -> float:
        """The share a request of ``priority`` must leave free: the interactive reserve holds
        against bulk while interactive requests came within ``reserve_idle`` seconds."""
        if priority is Priority.BULK and self.interactive_reserve and now < state.last_interactive + self.reserve_idle:
            return self.interactive_reserve
        return 0.0

    def _local_delay(self, state: _KeyState, now: float, priority: Priority = Priority.INTERACTIVE) -> float:
        """The wait the local view proves (exact for the local store, a lower bound else)."""
        delay = self._bulk_delay(state, now) if priority is Priority.BULK else state.view.delay(now)
        if delay:
            return delay
        if now >= state.warm_until and state.view.in_flight and self.cold_start and state.remote is None:
            # cold: single flight until the first response teaches the server's view (shared
            # stores gate cold start fleet-wide themselves)
            return INFINITY
        if now < state.probe_until and now < state.watch_next:
            # watching live traffic on a cold key: paced, so its hits show in our answers
            # (and keep room) before our own grants fill the short window
            return state.watch_next - now
        return 0.0

    def _bulk_delay(self, state: _KeyState, now: float) -> float:
        """The budget's wait for a bulk request: the interactive reserve kept, paced."""
        keep = self._keep(state, now, Priority.BULK)
        delay = state.view.delay(now, keep=keep)
        if keep and delay > 0 and state.view.delay(now) == 0:
            # held back only by the reserve: look again when it would be lent to bulk
            delay = min(delay, state.last_interactive + self.reserve_idle - now)
        if self.bulk_pacing and delay < state.bulk_next - now and now < state.last_interactive + self.reserve_idle:
            # paced while interactive requests come: one bulk grant per slot of the binding
            # window, so slots free one by one and refill the reserve between bursts
            delay = min(state.bulk_next, state.last_interactive + self.reserve_idle) - now
        return delay

    def _pace(self, state: _KeyState, now: float, priority: Priority) -> None:
        """Every grant, of either lane, moves the even schedule bulk follows (``bulk_pacing``)
        on by one slot of the binding window: bulk takes what interactive work leaves of the
        key's sustained rate, so no window fills ahead of its expiries and slots free one by
        one, never in a burst.  A bulk request waits at most one shortest window for it."""
        if now < state.probe_until:  # a cold key watching live traffic (see _local_delay)
            state.watch_next = now + state.view.pace_interval(now)
        if priority is Priority.BULK:
            state.last_bulk = now
        elif now >= state.last_bulk + self._shortest and not (state.lanes.queued and state.lanes.counts[Priority.BULK]):
            return  # bulk is idle: its schedule starts from its next grant
        if self.bulk_pacing:
            interval = state.view.pace_interval(now, keep=self._keep(state, now, Priority.BULK))
            state.bulk_next = min(max(state.bulk_next, now) + interval, now + self._shortest)

    def _grant_now(self, state: _KeyState, now: float, priority: Priority) -> Permit:
        self._pace(state, now, priority)
        state.granted += 1
        state.granted_bulk += priority is Priority.BULK
        return Permit(self, state, state.view.record(now=now))  # the caller's delay() was just 0

    def _check_admission(self, state: _KeyState, now: float, priority: Priority, deadline: float | None) -> None:
        """Refuse at once what cannot be granted in time or does not fit in the queue."""
        if self.max_queue is not None and state.lanes.queued >= self.max_queue:
            wait = state.view.earliest(now, ahead=state.lanes.ahead(priority))
            raise QueueFullError(
                f"{state.lanes.queued} requests already wait for this key's rate budget (max_queue={self.max_queue})",
                retry_after=None if wait == INFINITY else wait,
            )
        if deadline is None:
            return
        wait = max(state.view.earliest(now, ahead=state.lanes.ahead(priority)), state.store_wait_until - now)
        if now + wait > deadline:
            known = None if wait == INFINITY else wait
            raise DeadlineExceededError(
                f"rate budget cannot grant within the deadline (next grant in {wait:.3f}s)",
                retry_after=known,
            )

    def _abandon(self, state: _KeyState, waiter: Waiter[Slot]) -> None:
        fut = waiter.future
        if not fut.done():
            fut.cancel()
        if fut.cancelled():  # still queued: it leaves the lane (dropped lazily)
            state.lanes.abandon(waiter)
        elif fut.exception() is None:
            # Granted between set_result() and our resumption: give the slot back.
            slot = fut.result()
            state.view.returned(slot)
            if state.remote is not None and slot.id:
                state.remote.settle(slot, "returned", ())
            state.granted -= 1
            state.granted_bulk -= waiter.priority is Priority.BULK
        self._dispatch(state)

    def _expire_deadlines(self, state: _KeyState, now: float) -> None:
        heap = state.deadlines
        while heap and (heap[0][2].future.done() or heap[0][0] <= now):
            _, _, waiter = heapq.heappop(heap)
            if not waiter.future.done():
                wait = state.view.delay(now)
                error = DeadlineExceededError(
                    "deadline reached while waiting for rate budget", retry_after=None if wait == INFINITY else wait
                )
                state.lanes.fail(waiter, error)

    def _dispatch(self, state: _KeyState) -> None:
        """Grant as many waiters as the budget allows now, then arm the key's one timer.

        Idle keys are not checked here (that would purge every window on every response):
        ``_evict`` forgets them, a few per request.
        """
        if not state.lanes.queued and not state.deadlines:  # the common case of a free budget
            if state.timer is not None:
                self._arm(state, 0.0, INFINITY)
            return
        if self._closed:
            return
        now = self.clock.now()
        self._expire_deadlines(state, now)
        delay = INFINITY  # nobody waits
        while (waiter := state.lanes.peek()) is not None:
            delay = self._local_delay(state, now, waiter.priority)
            if delay > 0:
                break
            if state.remote is not None:
                fallback = state.remote.local_share(now)
                if fallback is None:  # ask the shared store (one round trip at a time per key)
                    delay = max(0.0, state.store_wait_until - now)
                    if delay == 0:
                        self._start_round(state)
                        delay = INFINITY  # the round trip's answer dispatches again
                    break
                share, recheck_at = fallback
                delay = state.view.delay(now, fraction=share)
                if delay > 0:  # and try the store again when its fallback period ends
                    delay = min(delay, max(0.0, recheck_at - now))
                    break
                slot = state.view.record(self._new_id(), now=now)  # written back when the store returns
                state.remote.granted(slot)
                self._grant(state, waiter, slot, now)
                continue
            self._grant(state, waiter, state.view.record(now=now), now)
        self._arm(state, now, delay)

    def _grant(self, state: _KeyState, waiter: Waiter[Slot], slot: Slot, now: float) -> None:
        state.lanes.grant(waiter, slot)
        self._pace(state, now, waiter.priority)
        state.granted += 1
        waited = now - waiter.enqueued_at
        if waiter.priority is Priority.BULK:
            state.granted_bulk += 1
            state.waited_bulk += waited
        else:
            state.waited += waited
        if waited > 0:
            self._emit(ThrottleWait(key=state.name, waited=waited, priority=waiter.priority))

    def _new_id(self) -> str:
        return f"{self._token}:{next(self._slot_ids)}"

    def _start_round(self, state: _KeyState) -> None:
        if state.call is None:
            state.call = asyncio.get_running_loop().create_task(self._remote_round(state))

    async def _remote_round(self, state: _KeyState) -> None:
        """Ask the shared store for slots for the head of the queue until it says wait."""
        remote = state.remote
        assert remote is not None
        try:
            while (head := state.lanes.peek()) is not None:
                now = self.clock.now()
                if self._local_delay(state, now, head.priority) > 0 or remote.local_share(now) is not None:
                    return  # the local view (or the fallback) decides: dispatch handles it
                state.redo = False
                slot_id = self._new_id()
                state.store_calls += 1
                limits = state.view.effective_limits(now, keep=self._keep(state, now, head.priority))
                try:
                    wait = await remote.acquire(slot_id, limits)
                except BudgetStoreError as error:
                    state.lanes.fail_all(error)
                    return
                now = self.clock.now()
                if wait == 0:
                    slot = state.view.record(slot_id, now=now)
                    remote.granted(slot)
                    head = state.lanes.peek()  # the head may have left during the round trip
                    if head is None:
                        state.view.returned(slot)
                        remote.settle(slot, "returned", ())
                        return
                    self._grant(state, head, slot, now)
                elif wait < 0:  # the store failed and this process falls back to its share:
                    fleet = remote.fleet_view()  # start from what the whole fleet held
                    if fleet is not None:
                        state.phantoms += state.view.assume_held(now, fleet[0], list(fleet[1]))
                elif not state.redo:
                    state.store_wait_until = now + wait
                    return
        finally:
            state.call = None
            if not self._closed:
                self._dispatch(state)

    # -- internals: outcomes --------------------------------------------------------------

    def _received(self, state: _KeyState, slot: Slot, headers: Mapping[str, str] | None) -> None:
        """Anchor ``slot`` now and learn from ``headers``; never raises, never dispatches."""
        now = self.clock.now()
        state.view.received(slot, now)
        windows: list[WindowHeaders] = []
        if headers:
            try:
                windows = rate_limit_headers(headers)
            except Exception:  # junk headers must never leave the queue behind this slot hanging
                log.warning("ignoring unparsable rate-limit headers", exc_info=True)
        if not windows and state.remote is None:  # the fast path: nothing to learn
            state.headerless += 1
            if now < state.warm_until or state.headerless >= COLD_RAMP:
                state.warm_until = now + state.view.longest_hold
            return
        view, remote = state.view, state.remote
        learn_for = view.longest_hold
        before = view.in_flight_before(slot) if windows else 0
        flying = view.in_flight
        # Hits that are live traffic, not an earlier process's history: seen while warm, or
        # by a cold key's second answer (they arrived after the first answer).
        live = now < state.warm_until or state.probes >= 1
        fresh, recent, seen, phantoms = 0, 0, False, 0
        older: tuple[float, int] | None = None  # (seconds, count) of the last shorter window with a count
        on_response = {window.name: window for window in windows}
        for length, name in self._lengths:  # the configured windows, shortest first
            window = on_response.get(name)
            if window is None:
                continue
            _, limit, remaining = window
            # With a shared store the other processes' hits look foreign to this view: only
            # the store, which knows the whole fleet's log, turns counts into phantoms.
            added = view.observe(
                now,
                name,
                limit=limit,
                remaining=remaining if remote is None else None,
                learn_for=learn_for,
                in_flight=before,
                older=older,
                since=slot.granted_at,
            )
            phantoms += added
            # Noted as live traffic: only the hits beyond *all* our requests in flight.  Those
            # granted after this one are left out of ``before`` so no foreign hit hides behind
            # them (a phantom costs one window), but a request can wait for a connection after
            # its grant and be overtaken by far more than the reorder tolerance: noting those
            # would keep room for traffic that does not exist.  (The same hits show in every
            # window's count: the most any window saw.)
            beyond = added - (flying - before)
            if beyond > fresh:
                fresh = beyond
            if not seen:  # the shortest window on the response
                seen, recent = True, added
            if limit is not None and remaining is not None:
                # at most this many hits are that recent (see ``KeyBudget.observe``)
                older = (length, limit - remaining)
        if phantoms:
            state.phantoms += phantoms
        if live:
            view.note_foreign(now, fresh)
        if any(w.remaining is not None for w in windows):
            # The first answer may predate requests still on the wire from a process that just
            # died; a second one, sent after the first came back, has seen them too.
            state.headerless = 0
            if now < state.warm_until:
                state.warm_until = now + learn_for
            else:
                if recent and state.probes < PROBES and state.probe_until < now:
                    # Foreign hits within the shortest window on a probe's answer: someone may
                    # be using the key right now.  Stay single-flight and paced for one shortest
                    # window, so that traffic shows in the counts (noted as live) before the
                    # key opens into it.
                    state.probe_until = now + self._shortest
                    if not live:  # the first answer: its recent hits are the evidence
                        state.view.note_foreign(now, recent)
                state.probes += 1
                if state.probes >= PROBES and now >= state.probe_until:
                    state.warm_until, state.probes = now + learn_for, 0
        else:
            state.headerless += 1
            if state.headerless >= COLD_RAMP or now < state.warm_until:
                state.warm_until = max(state.warm_until, now + learn_for)
        if state.remote is not None and slot.id:
            state.remote.settle(slot, "received", windows)
            self._freed(state)

    @staticmethod
    def _freed(state: _KeyState) -> None:
        """A local outcome may have freed room in the shared log: ask it again, now or right
        after the round trip in progress (whose "wait" answer may predate the outcome)."""
        state.store_wait_until = -INFINITY
        state.redo = True

    def _pause(
        self,
        state: _KeyState,
        hints: dict[str | None, float],
        retry: RetryConfig | None,
        *,
        fallback: float | None = None,
    ) -> float:
        """Pause the key after a 429 and return the pause length (events, fleet included)."""
        now = self.clock.now()
        hints = {k: v for k, v in hints.items() if math.isfinite(v) and v >= 0}
        if hints:
            state.strikes = 0
            backoff = 0.0
        else:
            state.strikes += 1
            backoff = fallback if fallback is not None else self._hintless_pause(state.strikes, retry)
        if now < state.warm_until and state.view.paused_until <= now:
            # Our own grants alone never overflow a window: a 429 on a warm key proves
            # outside traffic (or a limit we had not learned yet); keep room for it.
            state.view.collided(now)
        until = state.view.rate_limited(now, hints, backoff)
        state.rate_limited += 1
        pause = until - now
        if state.remote is not None:
            state.remote.pause(pause, [name for name in hints if name is not None])
            state.store_wait_until = max(state.store_wait_until, until)
        self._emit(RateLimitHit(key=state.name, hints=dict(hints), paused_for=pause))
        return pause

    def _hintless_pause(self, strikes: int, retry: RetryConfig | None) -> float:
        """Exponential backoff with upward jitter, never below the shortest window.

        The server blocks a window for its whole length on a violation, so a retry sooner
        only extends the block; ``wait_initial``, ``wait_exp_base``, ``wait_max`` and
        ``wait_jitter`` of the caller's :class:`RetryConfig` shape the rest.
        """
        retry = retry or RetryConfig()
        first = max(self._shortest, retry.wait_initial)
        ceiling = max(first, min(retry.wait_max, first * retry.wait_exp_base ** min(strikes - 1, 64)))
        return ceiling * (1.0 + 0.5 * self._rng.random()) if retry.wait_jitter else ceiling

    # -- internals: timer and events ------------------------------------------------------

    def _arm(self, state: _KeyState, now: float, delay: float) -> None:
        when = now + delay
        if state.deadlines:
            when = min(when, state.deadlines[0][0])
        if when == state.timer_at:
            return
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        state.timer_at = when
        if when != INFINITY:
            state.timer = self.clock.call_at(when, lambda: self._on_timer(state))

    def _on_timer(self, state: _KeyState) -> None:
        state.timer = None
        state.timer_at = INFINITY
        state.wakeups += 1
        self._dispatch(state)

    def _emit(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a user hook must never break scheduling
            log.exception("salescaling event hook failed")
