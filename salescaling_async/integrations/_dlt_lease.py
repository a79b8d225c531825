"""One client for every resource of one dlt extract, opened and closed on dlt's loop.

Strictly private (used by :mod:`salescaling_async.integrations.dlt`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from .._session import AsyncSalescaling

if TYPE_CHECKING:
    from .dlt import SyncMonitor


class ClientLease:
    """Strictly private. One :class:`AsyncSalescaling` for every resource of one extract.

    ``expect()`` runs in the caller's thread when dlt evaluates each selected resource, before
    any of them is iterated; so the count of users is complete before the first resource can
    finish, and the client cannot close between one resource ending and the next starting
    (which would hand the next one a fresh scheduler that forgot the budget already spent).

    A resource that never starts never releases, so a failed extract could leave the count
    above zero: the guard, an async generator started on dlt's loop, closes the client when
    dlt calls ``loop.shutdown_asyncgens()`` at the end of every extract.
    """

    def __init__(self, factory: Callable[[], AsyncSalescaling], monitor: SyncMonitor) -> None:
        self._factory = factory
        self._monitor = monitor
        self._lock = threading.Lock()
        self._users = 0
        self._client: AsyncSalescaling | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._opened = 0.0

    def expect(self) -> None:
        with self._lock:
            if self._users == 0 and self._client is None:  # a new run
                self._monitor.records.clear()
                self._monitor.totals.clear()
                self._monitor.complete.clear()
            self._users += 1

    async def client(self) -> AsyncSalescaling:
        if self._client is None:
            self._opened = time.monotonic()
            _quiet_close_race(asyncio.get_running_loop())
            self._client = self._factory()
            self._guard = self._guarded()
            await self._guard.__anext__()  # registers it with this loop's shutdown_asyncgens()
        return self._client

    async def release(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            last = self._users == 0
        if last:
            await self._close()

    async def _close(self) -> None:
        client, guard = self._client, self._guard
        self._client = self._guard = None
        if client is None:
            return
        stats = client.statistics()
        self._monitor.statistics = stats
        self._monitor.requests = stats.granted
        self._monitor.scan_seconds = time.monotonic() - self._opened
        try:
            await client.aclose()
        finally:
            if guard is not None:
                await guard.aclose()

    async def _guarded(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                self._users = 0
            self._guard = None  # it is this generator, already closing: _close must not close it again
            await self._close()


def _quiet_close_race(loop: asyncio.AbstractEventLoop) -> None:
    """Silence one known race of dlt's shutdown on its extract loop, and only that one.

    When an extract stops (Ctrl-C, an error elsewhere), dlt cancels the pending ``__anext__``
    futures and at once calls ``loop.shutdown_asyncgens()``; a scan whose ``__anext__`` has
    not yet seen the cancellation is still running, so its ``aclose()`` fails with "already
    running" and asyncio logs it.  The cancellation then closes it normally (its ``finally``
    releases the client), so the log line is noise.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        gen, exc = context.get("asyncgen"), context.get("exception")
        code = getattr(gen, "ag_code", None)
        if (
            isinstance(exc, RuntimeError)
            and "already running" in str(exc)
            and getattr(code, "co_name", None) in ("_scan", "pages")
        ):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
