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
    the time of the loop the client runs in.

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

    A client's own clock is bound to the loop the client opens in (:meth:`bind`), since the
    client refuses every other loop from then on: ``now()`` then reads that loop without
    asking for the running one, which on Python 3.10 and 3.11 is a ``getpid()`` system call
    each time (a request reads the clock three times).  ``call_at()`` still schedules on the
    running loop: it is only called while something waits, and a client's ``drain()`` may
    run in another loop than the client's own.  An unbound clock reads whichever loop runs.

    .. versionadded:: 0.1.0
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read ``loop``'s time from now on (its ``time()`` at each call, so a patched one counts)."""
        self._loop = loop

    def now(self) -> float:
        loop = self._loop
        return (asyncio.get_running_loop() if loop is None else loop).time()

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
