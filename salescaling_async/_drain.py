"""Counting calls in progress so a client can drain before it closes. Strictly private.

``drain()`` is the web server's shutdown step: stop taking new calls, let the calls in
progress (queued for budget, in flight or between retries) finish within a grace period,
then close.  The wait runs on the injected clock, so tests drive it with ``FakeClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ._clock import Clock

T = TypeVar("T")


class CallTracker:
    """Strictly private. Calls in progress of one client (all views), and the draining flag."""

    __slots__ = ("_idle", "active", "draining")

    def __init__(self) -> None:
        self.active = 0
        self.draining = False
        self._idle: asyncio.Future[None] | None = None

    async def track(self, call: Awaitable[T]) -> T:
        """Await ``call`` counted as in progress."""
        self.active += 1
        try:
            return await call
        finally:
            self.leave()

    def leave(self) -> None:
        """A call counted by ``active += 1`` (or :meth:`track`) ended."""
        self.active -= 1
        if self.active == 0 and self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    async def wait_idle(self, clock: Clock, timeout: float | None) -> bool:
        """Wait until no call is in progress, at most ``timeout`` seconds; return whether idle."""
        if self.active == 0:
            return True
        idle = self._idle = asyncio.get_running_loop().create_future()

        def expire() -> None:
            if not idle.done():
                idle.set_result(None)

        handle = clock.call_at(clock.now() + timeout, expire) if timeout is not None else None
        try:
            await idle
        finally:
            if handle is not None:
                handle.cancel()
        return self.active == 0
