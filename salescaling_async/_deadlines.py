"""The whole-attempt (``total``) timeout of many concurrent sends, on one timer. Strictly private.

aiohttp's ``ClientTimeout(total=...)`` arms one timer handle per request and enters a timer
context at every wait of the read.  With a few hundred requests in flight the loop's heap of
timer handles (most of them cancelled, compared by a Python ``__lt__``) makes that about
10 µs of CPU per request, a tenth of a whole request on this machine
(``benchmarks/bench_overhead.py``).  Here the sends of one loop share one timer instead:

* A send registers its task and due time in one dict, and removes it when it ends: a dict
  store and a pop per send, no object and no timer handle of its own.  (A task runs one send
  at a time: the transport's send awaits nothing that sends again.)
* The one timer is armed for the earliest due time of the registered sends.  When it fires,
  each send due by then is cancelled, exactly as aiohttp's timer and :func:`asyncio.timeout`
  cancel the task, and the timer is armed again for the earliest of the others (under
  steady load about once per ``total`` seconds: the sends in flight then began moments ago),
  but not sooner than :data:`BATCH` seconds on: when many sends run out one after another
  (a server that stopped answering), the timer fires at most a hundred times a second, each
  time for every send due by then, instead of once per send with a look at all of them.  A
  timeout is never early and at most ``BATCH`` late.  A send due before the armed time
  moves the timer up.
* The send turns that cancellation into its timeout with :meth:`Deadlines.expired_alone`.  A
  cancellation from anywhere else passes through; on Python 3.11+ one that coincides with the
  timeout passes through too (the task's ``cancelling()`` count tells them apart, and the
  timeout's own cancel is withdrawn).  3.10 cannot tell them apart, like aiohttp and
  ``async_timeout`` there.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

Task = asyncio.Task[Any]

_current_task = asyncio.current_task

BATCH = 0.01
"""Seconds the timer waits at least between two firings (see the module docstring)."""


class Deadlines:
    """The registered sends of one event loop, timed by one timer.

    ``start()`` gives the send a token (its task) for ``finish()`` and ``expired_alone()``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[Task, float] = {}  # registered sends -> due time
        # Cancellations already pending when a send began (3.11+, only when there were any):
        # those, and any beyond the timeout's own, came from elsewhere.
        self._prior: dict[Task, int] = {}
        self._expired: dict[Task, int] = {}  # sends the timer cancelled -> their prior count
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def start(self, seconds: float | None) -> Task | None:
        """Register the current task's send as due in ``seconds`` (``None``: never)."""
        if seconds is None:
            return None
        loop = self._loop
        task = _current_task(loop)
        if task is None:  # pragma: no cover - a send always runs in a task
            return None
        when = loop.time() + seconds
        self._due[task] = when
        if sys.version_info >= (3, 11):
            pending = task.cancelling()
            if pending:
                self._prior[task] = pending
        if when < self._timer_at:
            self._arm(when)
        return task

    def finish(self, token: Task | None) -> None:
        """Unregister a send that ended (however it ended)."""
        if token is not None:
            self._due.pop(token, None)
            if self._prior:
                self._prior.pop(token, None)
            if self._expired:
                self._expired.pop(token, None)

    def expired_alone(self, token: Task | None) -> bool:
        """Whether the ``CancelledError`` the send of ``token`` caught is its timeout, and
        nothing else's: then the cancellation is withdrawn (3.11+) and the send raises its
        timeout error instead.  ``False``: the caller re-raises the cancellation."""
        if token is None or token not in self._expired:
            return False
        prior = self._expired.pop(token)
        if sys.version_info >= (3, 11):
            return token.uncancel() <= prior
        return True  # pragma: no cover - 3.10 has no cancellation count

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        """Cancel every send due by now (or by the time the timer was armed for, which the
        loop may run a hair early), and arm the timer for the earliest of the others, at
        least :data:`BATCH` seconds on."""
        due_by = max(self._timer_at, self._loop.time())
        if self._timer is not None:
            self._timer.cancel()  # (a no-op when it is the timer that fires)
        self._timer, self._timer_at = None, math.inf
        earliest = math.inf
        for task, when in list(self._due.items()):
            if when <= due_by:
                del self._due[task]
                self._expired[task] = self._prior.pop(task, 0)
                task.cancel()
            elif when < earliest:
                earliest = when
        if earliest < math.inf:
            self._arm(max(earliest, due_by + BATCH))

    def close(self) -> None:
        """Disarm the timer (the transport is closing; no send is left to time)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self._due.clear()
        self._prior.clear()

    def __len__(self) -> int:
        """How many timers are armed: at most 1, however many sends are registered (it stays
        armed until due once its sends ended, and then arms for the next, if any)."""
        return 0 if self._timer is None else 1
