"""Scheduler behaviour under a fake clock: order, lanes, deadlines, cancellation, scale."""

from __future__ import annotations

import asyncio

import pytest

from salescaling_async import DeadlineExceededError, Priority, RateLimits, Window
from salescaling_async._scheduler import Permit, Scheduler
from salescaling_async.testing import FakeClock

from .conftest import settle

ONE = RateLimits((Window("w", 1, 1.0),))


def _scheduler(clock: FakeClock, limits: RateLimits = ONE, **kwargs: object) -> Scheduler:
    return Scheduler(limits, clock=clock, **kwargs)  # type: ignore[arg-type]


async def _take(sched: Scheduler, order: list[str], name: str, **kwargs: object) -> Permit:
    permit = await sched.acquire("k", **kwargs)  # type: ignore[arg-type]
    order.append(name)
    return permit


async def test_grants_in_fifo_order(clock: FakeClock) -> None:
    """Waiters of one lane are granted in arrival order, one per freed slot."""
    sched = _scheduler(clock)
    order: list[str] = []
    tasks = [asyncio.create_task(_take(sched, order, str(i))) for i in range(5)]
    await settle()
    assert order == ["0"]
    for i in range(1, 5):
        tasks[i - 1].result().received()
        await settle()
        assert order == [str(j) for j in range(i)]  # the slot is held W + m after receipt
        clock.advance(1.01)
        await settle()
        assert order == [str(j) for j in range(i + 1)]


async def test_interactive_first_but_bulk_never_starves(clock: FakeClock) -> None:
    """Interactive waiters go first; after ``bulk_every`` of them one bulk waiter is served."""
    sched = _scheduler(clock, bulk_every=2)
    order: list[str] = []
    first = await sched.acquire("k")
    tasks = [asyncio.create_task(_take(sched, order, f"b{i}", priority=Priority.BULK)) for i in range(2)]
    tasks += [asyncio.create_task(_take(sched, order, f"i{i}")) for i in range(5)]
    await settle()
    first.received()
    settled: set[asyncio.Task[Permit]] = set()
    for task_count in range(7):
        clock.advance(1.01)
        await settle()
        assert len(order) == task_count + 1
        done = next(t for t in tasks if t.done() and t not in settled)
        settled.add(done)
        done.result().received()
    assert order == ["i0", "i1", "b0", "i2", "i3", "b1", "i4"]


async def test_deadline_fails_fast_when_provably_unreachable(clock: FakeClock) -> None:
    """A deadline the budget cannot meet fails at once with a retry hint."""
    sched = _scheduler(clock)
    permit = await sched.acquire("k")
    permit.received()
    with pytest.raises(DeadlineExceededError) as info:
        await sched.acquire("k", deadline=clock.now() + 0.5)
    assert info.value.retry_after is not None and info.value.retry_after > 0.5
    assert clock.pending == 0  # failing fast armed nothing


async def test_deadline_expires_while_waiting_for_a_response(clock: FakeClock) -> None:
    """When the wait depends on an in-flight response, the key's one timer enforces the deadline."""
    sched = _scheduler(clock)
    await sched.acquire("k")  # in flight, never answered
    task = asyncio.create_task(sched.acquire("k", deadline=clock.now() + 2.0))
    await settle()
    assert not task.done() and clock.pending == 1
    clock.advance(2.0)
    await settle()
    with pytest.raises(DeadlineExceededError):
        task.result()
    assert sched.statistics("k").queued["interactive"] == 0


async def test_cancel_while_queued_leaks_nothing(clock: FakeClock) -> None:
    """A waiter cancelled in the queue consumes no slot and the next waiter gets its turn."""
    sched = _scheduler(clock)
    first = await sched.acquire("k")
    order: list[str] = []
    doomed = asyncio.create_task(_take(sched, order, "doomed"))
    survivor = asyncio.create_task(_take(sched, order, "survivor"))
    await settle()
    doomed.cancel()
    await settle()
    first.received()
    clock.advance(1.01)
    await settle()
    assert order == ["survivor"]
    stats = sched.statistics("k")
    assert stats.granted == 2 and stats.queued == {"interactive": 0, "bulk": 0}
    survivor.result().failed(sent=False)


async def test_cancel_after_grant_before_resuming_returns_the_slot(clock: FakeClock) -> None:
    """A waiter granted and cancelled before it resumed gives its slot straight back."""
    sched = _scheduler(clock)
    first = await sched.acquire("k")
    task = asyncio.create_task(sched.acquire("k"))
    await settle()
    first.received()
    clock.advance(1.01)  # the timer grants: the future has its result...
    task.cancel()  # ...but the task is cancelled before it runs again
    await settle()
    assert task.cancelled()
    assert sched.statistics("k").in_flight == 0
    again = await asyncio.wait_for(sched.acquire("k"), 0.1)  # granted at once: the slot came back
    again.received()


async def test_unsent_permit_returns_and_ambiguous_holds(clock: FakeClock) -> None:
    """Proven-unsent failures give the slot back; failures after sending hold it longer."""
    sched = _scheduler(clock, RateLimits((Window("w", 2, 1.0),)))
    (await sched.acquire("k")).failed(sent=False)
    assert sched.statistics("k").held == {"w": 0}
    (await sched.acquire("k")).failed(sent=True)
    clock.advance(1.5)
    assert sched.statistics("k").held == {"w": 1}  # now + 5 s horizon + W
    clock.advance(5.0)
    assert sched.statistics("k").held == {"w": 0}


async def test_ten_thousand_waiters_one_timer(clock: FakeClock) -> None:
    """10,000 waiters on one key cost one armed timer and about one wake-up per grant."""
    sched = _scheduler(clock, RateLimits((Window("w", 100, 1.0),)))
    granted: list[Permit] = []

    async def worker() -> None:
        permit = await sched.acquire("k")
        permit.received()
        granted.append(permit)

    tasks = [asyncio.create_task(worker()) for _ in range(10_000)]
    await settle()
    assert len(granted) == 100
    assert clock.pending == 1
    fired_before = clock.fired
    while len(granted) < 10_000:
        clock.advance(clock.next_due() - clock.now())  # type: ignore[operator]
        await settle(2)
        assert clock.pending <= 1
    grants_after = 10_000 - 100
    wakeups = clock.fired - fired_before
    assert wakeups <= grants_after / 100 + 1  # one timer firing frees a whole batch here
    await asyncio.gather(*tasks)


async def test_pause_on_429_holds_every_request_of_the_key(clock: FakeClock) -> None:
    """After a 429 no request of that key is granted until the pause ends; others go on."""
    sched = _scheduler(clock, RateLimits((Window("w", 100, 1.0),)))
    paused = sched.rate_limited("k", {"w": 3.0}, fallback=1.0)
    assert paused > 3.0
    task = asyncio.create_task(sched.acquire("k"))
    other = await sched.acquire("other")  # another key is unaffected
    other.received()
    await settle()
    assert not task.done()
    clock.advance(2.9)
    await settle()
    assert not task.done()
    clock.advance(0.2)
    await settle()
    assert task.done()
    assert sched.statistics("k").rate_limited == 1


async def test_idle_keys_are_evicted(clock: FakeClock) -> None:
    """Thousands of keys do not grow memory: idle ones are forgotten."""
    sched = _scheduler(clock, RateLimits((Window("w", 5, 1.0),)))
    for i in range(3000):
        (await sched.acquire(f"key{i}")).received()
        clock.advance(0.01)
    clock.advance(2.0)
    await sched.acquire("fresh")
    assert sched.tracked_keys < 200


async def test_statistics_and_repr_show_live_state(clock: FakeClock) -> None:
    """The snapshot is frozen and the repr names keys, held slots and queue length."""
    sched = _scheduler(clock)
    permit = await sched.acquire("k")
    stats = sched.statistics("k")
    assert stats.in_flight == 1 and stats.next_grant_in == float("inf")
    with pytest.raises(AttributeError):
        stats.granted = 5  # type: ignore[misc]
    assert "k: held={'w': 1}" in repr(sched)
    permit.received()
