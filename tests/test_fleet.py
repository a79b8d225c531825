"""The Redis store under the shared scheduler shell: fake clock in the process, real Redis.

Each test states one failure mode of a fleet sharing a key (issue 11) against a real
``redis-server``: lost replies, failed writes, outages, data loss, fleet-wide pauses and
learning, deadlines and shutdown.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from salescaling_async import (
    BudgetStoreError,
    ClientClosedError,
    DeadlineExceededError,
    QueueFullError,
    RateLimits,
    RedisBudget,
    Window,
)
from salescaling_async._redis import RedisKeyLog
from salescaling_async._scheduler import Permit, Scheduler
from salescaling_async.testing import FakeClock

from .conftest import settle

LIMITS = RateLimits((Window("short", 5, 1.0), Window("long", 20, 10.0)))
HEADERS = {
    "X-RateLimit-Limit-short": "5",
    "X-RateLimit-Remaining-short": "4",
    "X-RateLimit-Limit-long": "20",
    "X-RateLimit-Remaining-long": "19",
}


@pytest.fixture(name="budget")
def _budget(redis_url: str) -> RedisBudget:
    return RedisBudget(redis_url, namespace=uuid.uuid4().hex, timeout=0.5)


@pytest.fixture(name="r")
async def _r(redis_url: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _until(predicate: Any, rounds: int = 400) -> None:
    """Let real I/O (Redis round trips) run until ``predicate()`` holds."""
    for _ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def _granted(sched: Scheduler, key: str = "k", **kwargs: Any) -> Permit:
    return await asyncio.wait_for(sched.acquire(key, **kwargs), 5)


async def _opened(sched: Scheduler, key: str = "k") -> None:
    """Two requests, one after the other, whose responses carry headers open the key for the fleet."""
    for _ in range(2):
        (await _granted(sched, key)).received(HEADERS)
        await _drain(sched)


async def _drain(sched: Scheduler) -> None:
    """Wait for the background writes, moving a fake clock for their retry back-off."""
    backend: Any = sched.store
    while backend.tasks:
        await asyncio.wait(set(backend.tasks), timeout=0.02)
        if isinstance(sched.clock, FakeClock):
            sched.clock.advance(0.1)


def _log(sched: Scheduler, key: str = "k") -> RedisKeyLog:
    return sched._state(key).remote  # type: ignore[return-value]


async def _members(r: Any, budget: RedisBudget, key: str = "k") -> list[str]:
    return [m.decode() for m in await r.zrange(budget.redis_key(key), 0, -1)]


async def test_fleet_cold_start_sends_one_probe(budget: RedisBudget, clock: FakeClock) -> None:
    """Two processes on a new key: one request in flight until a response's headers open it."""
    a, b = Scheduler(LIMITS, clock=clock, budget=budget), Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        probe = await _granted(a)
        blocked = asyncio.create_task(b.acquire("k"))
        await asyncio.sleep(0.1)
        assert not blocked.done()  # the fleet waits for the probe
        probe.received(HEADERS)
        clock.advance(0.01)  # b polls on its (fake) clock
        await _until(lambda: blocked.done() or bool(clock.advance(0.01)))
        blocked.result().received(HEADERS)
    finally:
        await a.aclose(), await b.aclose()


async def test_fleet_cold_start_watches_live_traffic(budget: RedisBudget, clock: FakeClock, r: Any) -> None:
    """A probe's answer showing someone else's hit in the short window keeps the fleet closed
    (single flight, paced) for one short window, then the key opens."""
    limits = RateLimits((Window("short", 5, 0.3), Window("long", 20, 10.0)))
    a, b = Scheduler(limits, clock=clock, budget=budget), Scheduler(limits, clock=clock, budget=budget)
    try:
        (await _granted(a)).received(dict(HEADERS, **{"X-RateLimit-Remaining-short": "3"}))  # 1 foreign
        await _drain(a)
        second = asyncio.create_task(b.acquire("k"))  # paced: one probe per 0.5 s (the long window)
        await _until(lambda: second.done() or bool(clock.advance(0.05)))
        second.result().received(dict(HEADERS, **{"X-RateLimit-Remaining-short": "2"}))
        await _drain(b)
        meta = {k.decode(): v.decode() for k, v in (await r.hgetall(budget.redis_key("k", "meta"))).items()}
        assert meta["open"] == "0" and meta["seen"] == "2" and int(meta["watch"]) > 0  # watching
        log = _log(a)
        while (wait := await log.acquire("w1", [5, 20])) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)  # the watch and the pace run on Redis's clock
        probe_in_flight = await log.acquire("w2", [5, 20])
        assert probe_in_flight > 0  # still one at a time while watching
    finally:
        await a.aclose(), await b.aclose()


async def test_lost_acquire_reply_does_not_leak_the_slot(budget: RedisBudget, clock: FakeClock, r: Any) -> None:
    """A reply lost after the script ran (client timeout) is removed by slot id on the next call."""
    sched = Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(sched)
        log = _log(sched)
        real = sched.store.acquire_script  # type: ignore[attr-defined]

        async def lost_reply(*args: Any, **kwargs: Any) -> Any:
            await real(*args, **kwargs)
            raise RedisTimeoutError("Timeout reading from socket")

        sched.store.acquire_script = lost_reply  # type: ignore[attr-defined]
        with pytest.raises(BudgetStoreError):
            await _granted(sched)
        assert any(m.startswith("f:") for m in await _members(r, budget))  # the leaked slot
        sched.store.acquire_script = real  # type: ignore[attr-defined]
        permit = await _granted(sched)
        members = await _members(r, budget)
        assert sum(m.startswith("f:") for m in members) == 1  # only the new grant is in flight
        assert not log.unwritten
        permit.received(HEADERS)
    finally:
        await sched.aclose()


async def test_acquire_is_idempotent_per_slot_id(budget: RedisBudget, clock: FakeClock, r: Any) -> None:
    """Repeating an acquire with the same slot id (a retry after a lost reply) takes one slot."""
    sched = Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(sched)
        log = _log(sched)
        assert await log.acquire("same-id", [5, 20]) == 0
        assert await log.acquire("same-id", [5, 20]) == 0
        assert (await _members(r, budget)).count("f:same-id") == 1
        assert sum(m.startswith("f:") for m in await _members(r, budget)) == 1
    finally:
        await sched.aclose()


async def test_failed_settle_is_retried(budget: RedisBudget, r: Any) -> None:
    """A settle that fails twice is retried and lands; the in-flight entry does not linger."""
    sched = Scheduler(LIMITS, budget=budget)  # real clock: the retry backs off on it
    try:
        await _opened(sched)
        real, failures = sched.store.settle_script, [0]  # type: ignore[attr-defined]

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            if failures[0] < 2:
                failures[0] += 1
                raise RedisConnectionError("connection reset")
            return await real(*args, **kwargs)

        sched.store.settle_script = flaky  # type: ignore[attr-defined]
        (await _granted(sched)).received(HEADERS)
        await _drain(sched)
        members = await _members(r, budget)
        assert failures[0] == 2 and not any(m.startswith("f:") for m in members)
        assert sum(m.startswith("d:") for m in members) == 3  # 2 opening the key + this one
    finally:
        await sched.aclose()


async def test_local_grants_are_written_back_after_an_outage(redis_url: str, clock: FakeClock, r: Any) -> None:
    """Slots granted on the local fallback while Redis was unreachable appear in Redis afterwards."""
    budget = RedisBudget(
        redis_url, namespace=uuid.uuid4().hex, on_failure="local", fallback_fraction=1.0, recheck_seconds=5.0
    )
    sched = Scheduler(LIMITS, clock=clock, budget=budget)
    backend: Any = sched.store
    try:
        await _opened(sched)
        real_acquire, real_settle = backend.acquire_script, backend.settle_script

        async def down(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Connection refused")

        backend.acquire_script = backend.settle_script = down
        local = [await _granted(sched) for _ in range(3)]  # the fallback grants them locally
        for permit in local:
            permit.received(HEADERS)
        await _drain(sched)
        assert len(await _members(r, budget)) == 3  # the marker and the two opening slots only
        backend.acquire_script, backend.settle_script = real_acquire, real_settle
        clock.advance(5.1)  # the fallback period ends: the next grant asks Redis again
        (await _granted(sched)).received(HEADERS)
        await _drain(sched)
        settled = [m for m in await _members(r, budget) if m.startswith("d:")]
        assert len(settled) == 6  # 2 before + 3 written back + 1 after
    finally:
        await sched.aclose()


async def test_fallback_share_rounds_down(budget: RedisBudget) -> None:
    """The fallback never grants more than floor(limit x fraction); a share under 1 grants nothing."""
    from salescaling_async._budget import INFINITY, KeyBudget

    view = KeyBudget(RateLimits((Window("w", 7, 1.0),)))
    granted = 0
    while view.delay(0.0, fraction=0.25) == 0:
        view.record()
        granted += 1
    assert granted == 1  # floor(7 x 0.25) = 1, never the share of two processes
    tiny = KeyBudget(RateLimits((Window("w", 3, 1.0),)))
    assert tiny.delay(0.0, fraction=0.25) == INFINITY  # 0.75 rounds to 0: nothing until Redis returns


async def test_headers_learned_through_redis_reach_every_process(budget: RedisBudget, clock: FakeClock, r: Any) -> None:
    """Traffic from outside the fleet, seen in one process's headers, holds back the others and
    keeps room reserved for the outside client."""
    a, b = Scheduler(LIMITS, clock=clock, budget=budget), Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(a)
        outside = dict(HEADERS, **{"X-RateLimit-Remaining-short": "0"})  # the server counted 5, we know 3
        (await _granted(a)).received(outside)
        await _drain(a)
        log = _log(b)
        assert await log.acquire("b1", [5, 20]) > 0  # b waits although it never saw those headers
        assert await r.zcard(budget.redis_key("k", "foreign")) == 2  # seen while open: room kept for it
    finally:
        await a.aclose(), await b.aclose()


async def test_a_429_pauses_every_process(budget: RedisBudget, clock: FakeClock) -> None:
    """One process's 429 pauses the key in every process sharing the store, for the server's hint."""
    a, b = Scheduler(LIMITS, clock=clock, budget=budget), Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(a)
        pause = (await _granted(a)).rate_limited({}, {None: 3.0})
        assert pause >= 3.0
        await _drain(a)
        wait = await _log(b).acquire("b1", [5, 20])
        assert 2.5 < wait <= 3.1
    finally:
        await a.aclose(), await b.aclose()


async def test_a_429_on_an_open_key_keeps_room_fleet_wide(budget: RedisBudget, clock: FakeClock) -> None:
    """Our grants alone never overflow a window: a 429 on an open key is outside traffic, so every
    process keeps a slot free for it (two after a second collision)."""
    a, b = Scheduler(LIMITS, clock=clock, budget=budget), Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(a)  # 2 slots held

        async def grants_after_pause(tag: str) -> int:
            granted = 0
            for i in range(10):
                while (wait := await _log(b).acquire(f"{tag}{i}", [5, 20])) > 0 and wait < 0.1:  # noqa: ASYNC110
                    await asyncio.sleep(wait)  # the fleet-wide pause runs on Redis's clock: no event to wait for
                if wait > 0:
                    return granted
                granted += 1
            return granted

        (await _granted(a)).rate_limited({}, {None: 0.02})
        await _drain(a)
        assert await grants_after_pause("x") == 5 - 3 - 1  # 3 held (the 429 too), 1 kept free
    finally:
        await a.aclose(), await b.aclose()


async def test_data_loss_is_detected_and_reseeded(budget: RedisBudget, clock: FakeClock, r: Any) -> None:
    """After the log vanished, a new generation starts closed and each process re-seeds its slots."""
    sched = Scheduler(LIMITS, clock=clock, budget=budget)
    try:
        await _opened(sched)
        held = [await _granted(sched) for _ in range(2)]
        held[0].received(HEADERS)
        await _drain(sched)
        old = _log(sched).gen
        await r.delete(
            budget.redis_key("k"), budget.redis_key("k", "meta"), budget.redis_key("k", "foreign")
        )  # FLUSHALL, eviction, failover
        probe = await _granted(sched)
        members = await _members(r, budget)
        assert _log(sched).gen != old
        assert sum(m.startswith("d:") for m in members) == 3  # the two first and held[0], re-seeded
        assert sum(m.startswith("f:") for m in members) == 2  # held[1] re-seeded + the probe
        assert await r.hget(budget.redis_key("k", "meta"), "open") == b"0"
        blocked = asyncio.create_task(sched.acquire("k"))
        await asyncio.sleep(0.1)
        assert not blocked.done()  # closed: the probe must bring the server's counts first
        probe.received(HEADERS)
        await _until(lambda: blocked.done() or bool(clock.advance(0.01)))
    finally:
        await sched.aclose()


async def test_deadlines_run_on_the_injected_clock(budget: RedisBudget, clock: FakeClock) -> None:
    """With Redis the deadline fires on the scheduler's clock, not a window later."""
    limits = RateLimits((Window("w", 1, 1.0),))
    sched = Scheduler(limits, clock=clock, budget=budget)
    try:
        await _granted(sched)  # the probe: in flight, never answered
        task = asyncio.create_task(sched.acquire("k", deadline=clock.now() + 2.0))
        await asyncio.sleep(0.05)
        assert not task.done()
        clock.advance(2.0)
        await settle()
        with pytest.raises(DeadlineExceededError):
            await asyncio.wait_for(task, 1)
    finally:
        await sched.aclose()


async def test_a_local_response_during_the_round_trip_is_not_lost(budget: RedisBudget, clock: FakeClock) -> None:
    """A slot freed while the head's Redis call is on the wire is asked for again at once."""
    limits = RateLimits((Window("w", 1, 0.05),))
    sched = Scheduler(limits, clock=clock, budget=budget)
    try:
        first = await _granted(sched)
        second = asyncio.create_task(sched.acquire("k"))
        await settle(2)  # its round trip is in progress
        first.failed(sent=False)  # nothing was sent: the slot is free again at once
        await _until(second.done)  # no timer of the fake clock needed: nothing waits for a poll
    finally:
        await sched.aclose()


async def test_fail_fast_and_queue_limit_with_redis(budget: RedisBudget, clock: FakeClock) -> None:
    """The fail-fast deadline estimate and max_queue work with the Redis store too."""
    limits = RateLimits((Window("w", 1, 10.0),))
    sched = Scheduler(limits, clock=clock, budget=budget, max_queue=1)
    try:
        (await _granted(sched)).received()
        with pytest.raises(DeadlineExceededError):
            await sched.acquire("k", deadline=clock.now() + 1.0)
        queued = asyncio.create_task(sched.acquire("k"))
        await settle()
        with pytest.raises(QueueFullError):
            await sched.acquire("k")
        queued.cancel()
    finally:
        await sched.aclose()


async def test_aclose_fails_waiters_and_stops_the_store(budget: RedisBudget, clock: FakeClock) -> None:
    """Closing fails queued waiters at once, cancels the round trips, and nothing reconnects."""
    sched = Scheduler(LIMITS, clock=clock, budget=budget)
    await _granted(sched)  # the probe stays in flight
    waiters = [asyncio.create_task(sched.acquire("k")) for _ in range(20)]
    await asyncio.sleep(0.05)
    await sched.aclose()
    await settle()
    assert all(isinstance(w.exception(), ClientClosedError) for w in waiters)
    backend: Any = sched.store
    assert backend.closed and not backend.tasks
    assert sched._state("k").call is None
    pool = backend.redis.connection_pool
    in_use = len(pool._in_use_connections) + len(pool._available_connections)
    _log(sched).settle(sched._state("k").view.record("late"), "received", ())  # a late settle
    await asyncio.sleep(0.05)
    assert len(pool._in_use_connections) + len(pool._available_connections) <= in_use
    assert not backend.tasks
