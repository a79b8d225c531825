"""The one clock the SDK reads: monotonic seconds and timers, injectable.

Logic never reads ``time.time()``; tests drive :class:`salescaling_async.testing.FakeClock`,
whose ``advance()`` moves time and fires due timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic seconds plus one-shot timers on the same time base.

    Public as :class:`salescaling_async.testing.Clock`: pass any object with these two
    methods as ``AsyncSalescaling(clock=...)`` to drive scheduling waits and retry sleeps
    (:class:`salescaling_async.testing.FakeClock` is the ready-made one).  The default reads
    the running loop's ``time()``.

    .. versionadded:: 0.1.0
    """

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once ``now()`` reaches ``when``."""
        ...


class LoopClock:
    """The running event loop's ``time()`` and ``call_at()``: asyncio's own time base.

    .. versionadded:: 0.1.0
    """

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_at(when, callback)


async def sleep(clock: Clock, delay: float) -> None:
    """Sleep ``delay`` seconds on ``clock`` (so a FakeClock drives retries too)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    handle = clock.call_at(clock.now() + delay, wake)
    try:
        await future
    finally:
        handle.cancel()
