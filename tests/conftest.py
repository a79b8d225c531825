"""Shared fixtures: a fake clock, a loop driver for it, and simulator helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from salescaling_async.testing import FakeClock

T = TypeVar("T")


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


async def settle(rounds: int = 5) -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def drive(clock: FakeClock, awaitable: Awaitable[T], *, limit: float = 10_000.0) -> T:
    """Run ``awaitable``, advancing the fake clock to the next timer whenever the loop idles.

    Time only moves when nothing else can run, exactly like a virtual-time loop.
    """
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    start = clock.now()
    while not task.done():
        await settle()
        if task.done():
            break
        due = clock.next_due()
        if due is None:
            await asyncio.sleep(0.001)  # real I/O (a local server) is still running
            continue
        if due - start > limit:
            task.cancel()
            raise AssertionError(f"virtual time limit {limit}s exceeded")
        clock.advance(max(0.0, due - clock.now()))
    return task.result()


@pytest.fixture(name="drive")
def _drive(clock: FakeClock) -> Callable[..., Any]:
    async def run(awaitable: Awaitable[T], **kwargs: Any) -> T:
        return await drive(clock, awaitable, **kwargs)

    return run
