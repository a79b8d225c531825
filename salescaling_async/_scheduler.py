"""The shared scheduler: one FIFO queue per lane and one timer per API key. Strictly private.

Every request of every client view passes through :meth:`Scheduler.acquire`, which returns a
:class:`Permit` holding one slot of the key's :class:`~._budget.KeyBudget`.  The budget math
is pure; this module only turns "grant possible in d seconds" into waits.

Design (after aiolimiter's ``_waiters``/``_waker_handle``):

* **Synchronous grants.**  A grant is decided and recorded in one synchronous call
  (``_dispatch``) with no ``await`` between checking the budget and taking the slot, so two
  tasks can never both see the last free slot.
* **One timer per key, no polling.**  When the head of the queue must wait, the key arms a
  single timer for the moment the budget frees (or the earliest waiter deadline).  If the
  budget is waiting for in-flight responses (infinite delay) no timer is armed at all: the
  response's ``Permit.received()`` calls ``_dispatch`` again.  A grant resolves exactly one
  waiter's future, so 10,000 waiters cost one wake-up per grant, not 10,000.
* **Cancellation safety.**  A waiter cancelled while queued is skipped lazily (its future is
  done).  A waiter cancelled after its future got a slot but before it resumed gives that slot
  straight back.  A permit released without sending gives its slot back too.
* **Lanes.**  Interactive waiters go first; after ``bulk_every`` consecutive interactive grants
  while bulk waiters wait, one bulk waiter is served, so bulk never starves.
* **Pause on 429.**  ``rate_limited`` moves the budget's ``paused_until``; every queued and new
  request of the key waits for it because ``delay()`` includes the pause.
* **Eviction.**  A key whose budget holds nothing and has no waiters is forgotten; a sweep
  amortised over key creations removes keys that went idle without being touched again.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from ._backoff import rate_limit_headers
from ._budget import INFINITY, KeyBudget, Slot
from ._clock import Clock, LoopClock, TimerHandle
from ._config import RateLimits
from ._errors import DeadlineExceededError
from ._events import Event, RateLimitHit, ThrottleWait
from ._lanes import BULK_EVERY, Lanes, Waiter
from ._types import Priority

log = logging.getLogger("salescaling_async")


def key_id(api_key: str) -> str:
    """A short, stable, non-reversible name for an API key (logs, stats, Redis keys)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@attrs.frozen
class KeyStatistics:
    """A frozen snapshot of one key's scheduling state.

    Attributes:
        key: Hash of the API key (never the key itself).
        held: Slots held per window (in flight or not yet expired).
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


class _KeyState:
    """Strictly private. Queue, budget, timer and counters of one key."""

    def __init__(self, name: str, limits: RateLimits, bulk_every: int) -> None:
        self.name = name
        self.budget = KeyBudget(limits)
        self.lanes: Lanes[Slot] = Lanes(bulk_every)
        self.deadlines: list[tuple[float, int, Waiter[Slot]]] = []
        self.timer: TimerHandle | None = None
        self.timer_at = INFINITY
        self.granted = 0
        self.waited = 0.0
        self.rate_limited = 0
        self.phantoms = 0
        self.wakeups = 0


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
        """The response arrived now: anchor the slot and learn from rate-limit headers."""
        sched, state = self._scheduler, self._state
        now = sched.clock.now()
        state.budget.received(self._slot, now)
        if headers:
            for window in rate_limit_headers(headers):
                state.phantoms += state.budget.observe(
                    now, window.name, limit=window.limit, remaining=window.remaining
                )
        sched._dispatch(state)

    def failed(self, *, sent: bool) -> None:
        """No response: return the slot if nothing was sent, else hold it conservatively."""
        if sent:
            self._state.budget.ambiguous(self._slot, self._scheduler.clock.now())
        else:
            self._state.budget.returned(self._slot)
        self._scheduler._dispatch(self._state)


class PermitLike(Protocol):
    """Strictly private. What the pipeline does with a granted slot."""

    def received(self, headers: Mapping[str, str] | None = None) -> None: ...

    def failed(self, *, sent: bool) -> None: ...


class SchedulerLike(Protocol):
    """Strictly private. The local :class:`Scheduler` and the Redis one both offer this."""

    limits: RateLimits

    async def acquire(
        self, key: str, *, priority: Priority = ..., deadline: float | None = ...
    ) -> PermitLike: ...

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
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Clock | None = None,
        bulk_every: int = BULK_EVERY,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.limits = limits or RateLimits()
        self.clock: Clock = clock or LoopClock()
        self.bulk_every = bulk_every
        self.on_event = on_event
        self._keys: dict[str, _KeyState] = {}
        self._sweep_at = 64
        self._seq = itertools.count()

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
        """
        state = self._state(key)
        now = self.clock.now()
        if not state.lanes.queued and state.budget.delay(now) == 0:
            return self._grant_now(state, now)  # fast path: no future, no await
        self._check_deadline(state, now, deadline)
        loop = asyncio.get_running_loop()
        waiter: Waiter[Slot] = Waiter(loop.create_future(), priority, deadline, now)
        state.lanes.push(waiter)
        if deadline is not None:
            heapq.heappush(state.deadlines, (deadline, next(self._seq), waiter))
        self._dispatch(state)
        try:
            slot = await waiter.future
        except asyncio.CancelledError:
            self._abandon(state, waiter)
            raise
        return Permit(self, state, slot)

    def rate_limited(self, key: str, hints: dict[str | None, float], fallback: float) -> float:
        """Record a 429 for ``key``: pause it and fill the named windows; return the pause length."""
        state = self._state(key)
        now = self.clock.now()
        until = state.budget.rate_limited(now, hints, fallback)
        state.rate_limited += 1
        self._emit(RateLimitHit(key=state.name, hints=dict(hints), paused_for=until - now))
        self._dispatch(state)
        return until - now

    def statistics(self, key: str) -> KeyStatistics:
        """A snapshot of ``key``'s state (an untouched key shows an empty budget)."""
        state = self._keys.get(key) or _KeyState(key, self.limits, self.bulk_every)
        now = self.clock.now()
        snap = state.budget.snapshot(now)
        return KeyStatistics(
            key=key,
            held=snap.held,
            limits=snap.limits,
            in_flight=snap.in_flight,
            queued=state.lanes.by_lane(),
            granted=state.granted,
            waited_seconds=state.waited,
            rate_limited=state.rate_limited,
            phantom_hits=state.phantoms,
            wakeups=state.wakeups,
            next_grant_in=snap.next_grant_in,
            paused_for=max(0.0, snap.paused_until - now),
        )

    @property
    def tracked_keys(self) -> int:
        """How many keys currently have state (idle keys are evicted)."""
        return len(self._keys)

    async def aclose(self) -> None:
        """Nothing to release: the local scheduler holds no connections."""

    def __repr__(self) -> str:
        parts = []
        for name, state in list(self._keys.items())[:5]:
            snap = state.budget.snapshot(self.clock.now())
            parts.append(f"{name}: held={snap.held} queued={state.lanes.queued} granted={state.granted}")
        more = f" +{len(self._keys) - 5} more" if len(self._keys) > 5 else ""
        return f"<Scheduler keys={len(self._keys)} [{'; '.join(parts)}]{more}>"

    # -- internals ------------------------------------------------------------------------

    def _state(self, key: str) -> _KeyState:
        state = self._keys.get(key)
        if state is None:
            if len(self._keys) >= self._sweep_at:
                self._sweep()
            state = self._keys[key] = _KeyState(key, self.limits, self.bulk_every)
        return state

    def _sweep(self) -> None:
        now = self.clock.now()
        for name, state in list(self._keys.items()):
            if self._is_idle(state, now):
                del self._keys[name]
        self._sweep_at = max(64, 2 * len(self._keys))

    def _is_idle(self, state: _KeyState, now: float) -> bool:
        return not state.lanes.queued and state.timer is None and state.budget.is_idle(now)

    def _grant_now(self, state: _KeyState, now: float) -> Permit:
        state.granted += 1
        return Permit(self, state, state.budget.acquire(now, record_only=True))  # delay() was just 0

    def _check_deadline(self, state: _KeyState, now: float, deadline: float | None) -> None:
        if deadline is None:
            return
        wait = state.budget.earliest(now, ahead=state.lanes.queued)
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
            state.lanes.left()
        elif fut.exception() is None:
            # Granted between set_result() and our resumption: give the slot back.
            state.budget.returned(fut.result())
            state.granted -= 1
        self._dispatch(state)

    def _expire_deadlines(self, state: _KeyState, now: float) -> None:
        heap = state.deadlines
        while heap and (heap[0][2].future.done() or heap[0][0] <= now):
            _, _, waiter = heapq.heappop(heap)
            if not waiter.future.done():
                wait = state.budget.delay(now)
                error = DeadlineExceededError(
                    "deadline reached while waiting for rate budget", retry_after=None if wait == INFINITY else wait
                )
                state.lanes.fail(waiter, error)

    def _dispatch(self, state: _KeyState) -> None:
        """Grant as many waiters as the budget allows now, then arm the key's one timer.

        Idle keys are not checked here (that would purge every window on every response):
        the sweep in ``_state`` evicts them, amortised over key creations.
        """
        if not state.lanes.queued and not state.deadlines:  # the common case of a free budget
            if state.timer is not None:
                self._arm(state, 0.0, INFINITY)
            return
        now = self.clock.now()
        self._expire_deadlines(state, now)
        delay = 0.0
        while (waiter := state.lanes.peek()) is not None:
            delay = state.budget.delay(now)
            if delay > 0:
                break
            state.lanes.grant(waiter, state.budget.acquire(now, record_only=True))  # delay() was just 0
            state.granted += 1
            waited = now - waiter.enqueued_at
            state.waited += waited
            if waited > 0:
                self._emit(ThrottleWait(key=state.name, waited=waited, priority=waiter.priority))
        else:
            delay = INFINITY  # nobody waits
        self._arm(state, now, delay)

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
