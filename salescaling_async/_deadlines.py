"""The whole-attempt (``total``) timeout of many concurrent sends, on few timers. Strictly private.

aiohttp's ``ClientTimeout(total=...)`` arms one timer handle per request and enters a timer
context at every wait of the read.  With a few hundred requests in flight the loop's heap of
timer handles (most of them cancelled, compared by a Python ``__lt__``) makes that about
10 µs of CPU per request, a tenth of a whole request on this machine
(``benchmarks/bench_overhead.py``).  Here the sends share timers instead:

* A deadline of :data:`CEIL_THRESHOLD` seconds or more is rounded up to a whole second of
  the loop's clock, as aiohttp itself rounds it (its ``ceil_threshold``), and every send due
  in the same second shares one timer.  A shorter one is rounded up to :data:`FINE_GRID`
  (10 ms late at most), so that the sends due in the same hundredth share one too.
* A timer whose sends all ended stays armed until it is due, for the next sends of its
  second (or hundredth) to reuse: at most one live timer per second of deadlines ahead
  (per hundredth for short ones), however many sends there are.
* When a timer fires, each send still registered under it is cancelled, exactly as aiohttp's
  timer and :func:`asyncio.timeout` cancel the task; the send turns that cancellation into its
  timeout with :meth:`Deadline.expired_alone`.  A cancellation from anywhere else passes
  through; on Python 3.11+ one that coincides with the timeout passes through too (the task's
  ``cancelling()`` count tells them apart, and the timeout's own cancel is withdrawn).  3.10
  cannot tell them apart, like aiohttp and ``async_timeout`` there.
"""

from __future__ import annotations

import asyncio
import math
import sys

CEIL_THRESHOLD = 5.0
"""Deadlines this many seconds away or more are rounded up to a whole second (aiohttp's
default ``ceil_threshold``)."""
FINE_GRID = 0.01
"""Shorter deadlines are rounded up to this many seconds."""


class Deadline:
    """One send's registration: its task, due time, and whether its timer cancelled it."""

    __slots__ = ("cancelling", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.expired = False
        # The task's pending cancellations when the send began (3.11+): any beyond them, and
        # beyond this timeout's own, came from elsewhere.
        self.cancelling = 0
        if sys.version_info >= (3, 11):
            self.cancelling = task.cancelling()

    def expired_alone(self) -> bool:
        """Whether the ``CancelledError`` the send caught is this deadline's timeout, and
        nothing else's: then the cancellation is withdrawn (3.11+) and the send raises its
        timeout error instead.  ``False``: the caller re-raises the cancellation."""
        if not self.expired:
            return False
        if sys.version_info >= (3, 11):
            return self.task.uncancel() <= self.cancelling
        return True  # pragma: no cover - 3.10 has no cancellation count


class Deadlines:
    """The registered sends of one event loop, grouped by due time, one timer per group."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # due time -> (its one timer, the sends registered under it)
        self._groups: dict[float, tuple[asyncio.TimerHandle, dict[Deadline, None]]] = {}

    def start(self, seconds: float | None) -> Deadline | None:
        """Register the current task's send as due in ``seconds`` (``None``: never)."""
        if seconds is None:
            return None
        task = asyncio.current_task(self._loop)
        if task is None:  # pragma: no cover - a send always runs in a task
            return None
        grid = 1.0 if seconds >= CEIL_THRESHOLD else FINE_GRID
        when = math.ceil((self._loop.time() + seconds) / grid) * grid
        deadline = Deadline(task, when)
        entry = self._groups.get(when)
        if entry is None:
            entry = self._groups[when] = (self._loop.call_at(when, self._expire, when), {})
        entry[1][deadline] = None
        return deadline

    def finish(self, deadline: Deadline | None) -> None:
        """Unregister a send that ended (however it ended); its group's timer stays armed
        until due, so the next sends of the same second reuse it."""
        if deadline is not None:
            entry = self._groups.get(deadline.when)
            if entry is not None:
                entry[1].pop(deadline, None)

    def _expire(self, when: float) -> None:
        _, group = self._groups.pop(when, (None, {}))
        for deadline in group:
            deadline.expired = True
            deadline.task.cancel()

    def close(self) -> None:
        """Disarm every timer (the transport is closing; no send is left to time)."""
        for timer, _ in self._groups.values():
            timer.cancel()
        self._groups.clear()

    def __len__(self) -> int:
        """How many timers are armed (a few per second of deadlines, not one per send)."""
        return len(self._groups)
