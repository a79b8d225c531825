"""Waiters and the two priority lanes shared by the local and the Redis scheduler. Strictly private.

Interactive waiters are served first, FIFO; after ``bulk_every`` interactive grants in a row
while bulk waiters wait, one bulk waiter is served, so bulk never starves.  Waiters that left
(cancelled, expired, failed) stay in their deque until they reach its head, where they are
dropped: removal from the middle of a deque would cost O(n) per cancellation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

from ._types import Priority

S = TypeVar("S")
BULK_EVERY = 4
_NO_WAITERS: dict[Priority, int] = dict.fromkeys(Priority, 0)
"""The counts of lanes that never had a waiter: shared, read only (``push`` replaces it)."""


class Waiter(Generic[S]):
    """Strictly private. One queued request: its future receives the granted slot."""

    __slots__ = ("deadline", "enqueued_at", "future", "priority")

    def __init__(self, future: asyncio.Future[S], priority: Priority, deadline: float | None, now: float) -> None:
        self.future = future
        self.priority = priority
        self.deadline = deadline
        self.enqueued_at = now


class Lanes(Generic[S]):
    """Strictly private. The interactive and bulk FIFOs of one key, with a live-waiter count.

    The deques are made by the first waiter: most keys of a multi-tenant process never queue,
    and two empty deques would be most of an idle key's memory.
    """

    __slots__ = ("_lanes", "bulk_every", "counts", "queued", "streak")

    def __init__(self, bulk_every: int = BULK_EVERY) -> None:
        self._lanes: dict[Priority, deque[Waiter[S]]] | None = None  # made by the first push
        self.bulk_every = bulk_every
        self.queued = 0  # live waiters only
        self.counts = _NO_WAITERS  # live waiters per lane (own dict from the first push)
        self.streak = 0  # interactive grants in a row

    def push(self, waiter: Waiter[S]) -> None:
        if self._lanes is None:
            self._lanes = {p: deque() for p in Priority}
            self.counts = dict.fromkeys(Priority, 0)
        self._lanes[waiter.priority].append(waiter)
        self.queued += 1
        self.counts[waiter.priority] += 1

    def ahead(self, priority: Priority) -> int:
        """Live waiters certain to be served before a new waiter of ``priority``.

        Only its own lane counts: an interactive request overtakes the bulk backlog, and a
        bulk request may be overtaken, so neither lane's estimate may count the other lane
        (the deadline check needs a lower bound of the wait).
        """
        return self.counts[priority]

    def peek(self) -> Waiter[S] | None:
        """The waiter to serve next, dropping departed ones from the heads."""
        if self._lanes is None:
            return None
        interactive, bulk = self._lanes[Priority.INTERACTIVE], self._lanes[Priority.BULK]
        for lane in (interactive, bulk):
            while lane and lane[0].future.done():
                lane.popleft()
        if interactive and (not bulk or self.streak < self.bulk_every):
            return interactive[0]
        return bulk[0] if bulk else None

    def grant(self, waiter: Waiter[S], slot: S) -> None:
        """Serve the waiter ``peek()`` returned: remove it and resolve its future."""
        assert self._lanes is not None  # peek() returned it
        self._lanes[waiter.priority].popleft()
        self.queued -= 1
        self.counts[waiter.priority] -= 1
        self.streak = self.streak + 1 if waiter.priority is Priority.INTERACTIVE else 0
        waiter.future.set_result(slot)

    def fail(self, waiter: Waiter[S], error: BaseException) -> None:
        """A live waiter leaves with ``error`` (deadline, store failure)."""
        if not waiter.future.done():
            self.queued -= 1
            self.counts[waiter.priority] -= 1
            waiter.future.set_exception(error)

    def abandon(self, waiter: Waiter[S]) -> None:
        """``waiter``'s task was cancelled while queued: it no longer counts (dropped lazily)."""
        self.queued -= 1
        self.counts[waiter.priority] -= 1

    def fail_all(self, error: BaseException) -> int:
        """Every live waiter leaves with ``error`` at once; returns how many."""
        failed = 0
        for lane in (self._lanes or {}).values():
            while lane:
                waiter = lane.popleft()
                if not waiter.future.done():
                    waiter.future.set_exception(error)
                    failed += 1
        self.queued = 0
        self.counts = _NO_WAITERS if self._lanes is None else dict.fromkeys(Priority, 0)
        return failed

    def live(self) -> Iterator[Waiter[S]]:
        for lane in (self._lanes or {}).values():
            yield from (w for w in lane if not w.future.done())

    def by_lane(self) -> dict[str, int]:
        if self._lanes is None:
            return {p.value: 0 for p in Priority}
        return {p.value: sum(not w.future.done() for w in lane) for p, lane in self._lanes.items()}
