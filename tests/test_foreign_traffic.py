"""A key shared with a client outside the budget: the scheduler learns its traffic and keeps
room for it (issue 11, "traffic on the same key from a client outside the fleet").

What holds, and is asserted: no 429 for either client beside outside traffic at 1 to 5 requests
per second, the client starting cold while the outside one already runs.  What does not: a rare
outside client (a hit every few seconds) cannot be seen before it lands and may find the short
window full once; then the client learns from the collision (the room it keeps doubles).

Deterministic: the scheduler runs on the fake clock against the simulator's own pure NestJS
throttler (sliding log, a block after going over), with seeded latencies; requests are counted
at a random moment between send and answer, the way a real server's count lands.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping

import pytest

from salescaling_async import RateLimits, Window
from salescaling_async._scheduler import Scheduler
from salescaling_async.testing import FakeClock
from salescaling_async.testing._throttler import Throttler

from .conftest import drive


def _sleep(clock: FakeClock, seconds: float) -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    clock.call_at(clock.now() + seconds, lambda: future.done() or future.set_result(None))
    return future


def _hints(headers: Mapping[str, str]) -> dict[str | None, float]:
    return {k[len("retry-after-") :]: float(v) for k, v in headers.items() if k.lower().startswith("retry-after-")}


class _World:
    """One key on a NestJS throttler, a scheduler-driven fleet of tasks and an outside client."""

    def __init__(self, limits: RateLimits, *, seed: int, outside_every: float, pool_wait: float = 0.0) -> None:
        self.clock = FakeClock()
        self.limits = limits
        self.throttler = Throttler(limits.windows)
        self.rng = random.Random(seed)
        self.outside_every = outside_every
        self.pool_wait = pool_wait  # a granted request may wait this long (at most) before it is sent
        self.sched: Scheduler | None = None
        self.fleet_ok = self.fleet_429 = self.outside_ok = self.outside_429 = 0
        self.start = self.clock.now()
        self.rejected_at: list[float] = []  # seconds into the run of every 429, either client

    async def _hit(self) -> dict[str, str]:
        """Send one request: the server counts it after a random part of the latency."""
        await _sleep(self.clock, self.rng.uniform(0.001, 0.030))
        verdict = self.throttler.hit("k", self.clock.now())
        if not verdict.allowed:
            self.rejected_at.append(self.clock.now() - self.start)
        await _sleep(self.clock, self.rng.uniform(0.001, 0.030))
        return {"status": "200" if verdict.allowed else "429", **dict(verdict.headers)}

    async def fleet_task(self, sched: Scheduler, until: float) -> None:
        while self.clock.now() < until:
            permit = await sched.acquire("k")
            if self.pool_wait and self.rng.random() < 0.2:
                await _sleep(self.clock, self.rng.uniform(0.0, self.pool_wait))  # waits for a connection
            answer = await self._hit()
            if answer.pop("status") == "429":
                self.fleet_429 += 1
                permit.rate_limited(answer, _hints(answer))
            else:
                self.fleet_ok += 1
                permit.received(answer)

    async def outside_client(self, until: float) -> None:
        """Well behaved: one request every ``outside_every`` seconds, obeying ``Retry-After``."""
        while self.clock.now() < until:
            answer = await self._hit()
            pause = self.outside_every
            if answer.pop("status") == "429":
                self.outside_429 += 1
                pause = max(pause, *_hints(answer).values())
            else:
                self.outside_ok += 1
            await _sleep(self.clock, pause)

    async def run(self, seconds: float, tasks: int = 25) -> None:
        sched = self.sched = Scheduler(self.limits, clock=self.clock, seed=1)
        until = self.clock.now() + seconds
        outside = [self.outside_client(until)] if self.outside_every else []
        try:
            await asyncio.gather(*outside, *(self.fleet_task(sched, until) for _ in range(tasks)))
        finally:
            await sched.aclose()


@pytest.mark.parametrize("seed", range(1, 9))
async def test_outside_traffic_is_learned_and_gets_room(seed: int) -> None:
    """A saturating client beside a well-behaved outside one at 3 requests/s for two long
    windows: no 429 for either, and the client still takes most of what the outside one leaves."""
    world = _World(RateLimits(), seed=seed, outside_every=1 / 3)
    await drive(world.clock, world.run(120.0), limit=200.0)
    assert world.rejected_at == []
    assert world.outside_ok >= 300
    left = RateLimits().ceiling(120.0) - world.outside_ok  # what the outside client leaves
    assert world.fleet_ok >= 0.6 * left


@pytest.mark.parametrize("every", [1.0, 0.2])
@pytest.mark.parametrize("seed", range(1, 5))
async def test_slower_and_faster_outside_clients(seed: int, every: float) -> None:
    """The same beside an outside client at 1 and at 5 requests/s."""
    world = _World(RateLimits(), seed=seed, outside_every=every)
    await drive(world.clock, world.run(120.0), limit=200.0)
    assert world.rejected_at == []


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_rare_outside_client_costs_at_most_one_collision(seed: int) -> None:
    """One request every 5 s cannot be seen before it lands: the first may find the short window
    full (one block, the client's requests in flight at that moment get 429), never a second."""
    world = _World(RateLimits(), seed=seed, outside_every=5.0)
    await drive(world.clock, world.run(120.0), limit=200.0)
    assert world.outside_429 <= 1
    blocks = [t for t in world.rejected_at if t > min(world.rejected_at, default=0.0) + 1.0]
    assert blocks == []  # every 429 within the one block


@pytest.mark.parametrize("seed", range(1, 5))
async def test_scaled_windows_and_a_faster_outside_client(seed: int) -> None:
    """The same with the benchmark's windows (scaled x6) and the outside client at 18 requests/s."""
    world = _World(RateLimits().scaled(6.0), seed=seed, outside_every=1 / 18)
    await drive(world.clock, world.run(30.0), limit=60.0)
    assert world.rejected_at == []


@pytest.mark.parametrize("seed", [1, 2])
async def test_requests_overtaken_after_a_pool_wait_are_not_outside_traffic(seed: int) -> None:
    """Alone on the key, with granted requests waiting up to 300 ms for a connection (far more
    than the reorder tolerance): no room is kept for traffic that does not exist."""
    world = _World(RateLimits().scaled(6.0), seed=seed, outside_every=0.0, pool_wait=0.3)
    await drive(world.clock, world.run(30.0), limit=60.0)
    assert world.sched is not None
    assert world.rejected_at == [] and world.sched.statistics("k").phantom_hits > 0  # overtaken: phantoms
    assert not world.sched._state("k").view._notes


def test_short_windows_learn_the_rate_noted_in_the_long_one() -> None:
    """Foreign hits noted over the long window keep their share free in the short one."""
    from salescaling_async._budget import KeyBudget

    budget = KeyBudget(RateLimits((Window("short", 20, 1.0), Window("long", 1000, 60.0))))
    for second in range(30):  # 3 foreign hits a second for 30 s, noted as they were learned
        budget.note_foreign(float(second), 3)
    granted = 0
    while budget.delay(30.0) == 0:
        budget.take(30.0)
        granted += 1
    assert granted == 20 - 4  # 87 hits after the first 3 over 30 s: 2.9/s, times the short hold, rounded up, + 1
    budget = KeyBudget(RateLimits((Window("short", 20, 1.0), Window("long", 1000, 60.0))))
    budget.note_foreign(0.0, 3)
    assert budget.delay(200.0) == 0 and budget.snapshot(200.0).held == {"short": 0, "long": 0}
    taken = 0
    while budget.delay(200.0) == 0:
        budget.take(200.0)
        taken += 1
    assert taken == 20  # the notes aged out with the longest hold


def test_a_one_off_burst_of_foreign_hits_is_not_a_rate() -> None:
    """Many hits learned from one answer (a burst, a store that lost its log) keep room only while
    they are in the window; they do not make the short window keep room for seconds."""
    from salescaling_async._budget import KeyBudget

    budget = KeyBudget(RateLimits((Window("short", 20, 1.0), Window("long", 1000, 60.0))))
    budget.note_foreign(0.0, 100)
    taken = 0
    while budget.delay(2.0) == 0:
        budget.take(2.0)
        taken += 1
    assert taken == 19  # one slot kept while the notes last, no rate
