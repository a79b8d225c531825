"""The SDK against the simulator: zero 429s under saturation, faults, hooks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from salescaling_async import (
    AsyncSalescaling,
    Event,
    RateLimits,
    ReadError,
    RetryConfig,
    RetryScheduled,
    ServerError,
    ThrottleWait,
)
from salescaling_async.testing import Fault, Simulator

SCALE = 10.0  # 20/0.1 s, 200/1 s, 1000/6 s


async def test_two_hundred_tasks_saturating_get_zero_429s() -> None:
    """200 concurrent tasks hammering one key never earn a 429 and stay near the ceiling."""
    async with Simulator(time_scale=SCALE, records=5) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
            loop = asyncio.get_running_loop()
            start = loop.time()

            async def worker() -> None:
                for _ in range(4):
                    await client.request("GET", "contacts", params={"limit": 1})

            await asyncio.gather(*(worker() for _ in range(200)))
            elapsed = loop.time() - start
    assert sim.stats().rejected == 0
    assert sim.stats().accepted == 800
    ceiling = RateLimits().scaled(SCALE).ceiling(elapsed)
    assert ceiling >= 800  # we could not have done it faster than physics allows


async def test_jittery_latency_still_zero_429s() -> None:
    """Random latency tails reorder responses; the response-anchored log stays safe."""
    faults = [Fault("latency", probability=1.0, latency=0.0, tail=0.03, tail_probability=0.5)]
    async with Simulator(time_scale=SCALE, records=5, faults=faults, seed=3) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
            await asyncio.gather(*(client.request("GET", "users") for _ in range(400)))
    assert sim.stats().rejected == 0 and sim.stats().accepted == 400


async def test_foreign_traffic_is_learned_from_headers() -> None:
    """Another user of the key shows up as phantom hits, and we still get no 429."""
    async with Simulator(time_scale=SCALE, records=5) as sim:
        limits = RateLimits().scaled(SCALE)
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=limits) as ours:
            # an unmanaged neighbour spends part of the short window behind our back
            async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=limits) as neighbour:
                await asyncio.gather(*(neighbour.request("GET", "users") for _ in range(10)))
            await ours.request("GET", "users")
            assert ours.statistics().phantom_hits >= 10
            await asyncio.gather(*(ours.request("GET", "users") for _ in range(60)))
    assert sim.stats().rejected == 0


async def test_reset_after_write_is_not_resent() -> None:
    """A POST whose connection dropped after processing raises ReadError and is not duplicated."""
    faults = [Fault("reset_after", on={1}, methods={"POST"})]
    async with Simulator(records=0, faults=faults, limits=None) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            from salescaling_async.models import OpportunityCreate

            with pytest.raises(ReadError):
                await client.opportunities.create(OpportunityCreate(name="once"))
            listed = await client.opportunities.list().to_list()
    assert [o.name for o in listed] == ["once"]


async def test_server_errors_retried_for_reads_with_events() -> None:
    """Two 503s then success: the GET succeeds, retries are reported through the hook."""
    events: list[Event] = []
    faults = [Fault("status", on={1, 2}, status=503)]
    retry = RetryConfig(wait_initial=0.01, wait_max=0.02)
    async with Simulator(records=3, faults=faults) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, retry=retry, on_event=events.append) as client:
            contacts = await client.contacts.list().to_list()
    assert len(contacts) == 3
    assert [type(e) for e in events if isinstance(e, RetryScheduled)] == [RetryScheduled] * 2


async def test_post_not_retried_on_500() -> None:
    """A POST answered 500 is raised, not resent."""
    async with Simulator(records=0, faults=[Fault("status", on={1}, methods={"POST"})]) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            with pytest.raises(ServerError):
                await client.request("POST", "companies", json={"name": "x"})
    assert sim.stats().accepted == 1


async def test_throttle_waits_are_reported() -> None:
    """Requests that queued for budget emit ThrottleWait events."""
    events: list[Any] = []
    async with Simulator(time_scale=SCALE, records=1) as sim:
        async with AsyncSalescaling(
            sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE), on_event=events.append
        ) as client:
            await asyncio.gather(*(client.request("GET", "users") for _ in range(30)))
    assert any(isinstance(e, ThrottleWait) for e in events)
