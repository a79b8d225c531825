"""The blocking twin of a bulk run: a plain iterator stepping a ``BulkRun`` on a loop thread.

Strictly private; ``SyncBulkRun`` is re-exported by the package root and made by the blocking
client's ``create_many``/``reconcile``.  No anyio here: it is given the blocking client's
``run`` (which runs a coroutine function on the client's loop and waits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._bulk import BulkResult, BulkRun

I = TypeVar("I")  # noqa: E741 - the item type, named like the docs
R = TypeVar("R")


class SyncBulkRun(Generic[I, R]):
    """The blocking twin of :class:`BulkRun`: a plain iterator of :class:`BulkResult`.

    Each step runs on the blocking client's loop; the items in flight keep running there
    between steps.  Ctrl-C (or leaving the loop and calling :meth:`close`) cancels them and
    reports them in :attr:`unreported`.

    .. versionadded:: 0.2.0
    """

    def __init__(self, run: Callable[[Callable[[], Awaitable[Any]]], Any], make: Callable[[], BulkRun[I, R]]) -> None:
        self._run = run
        # Built now, in the caller's thread, so bad arguments raise here as they do in async
        # code; a BulkRun starts no task before its first step, which runs on the loop.
        self._bulk: BulkRun[I, R] = make()
        self._closed_sync = False
        self.unreported: list[BulkResult[I, R]] = []

    def __iter__(self) -> Iterator[BulkResult[I, R]]:
        return self

    def __next__(self) -> BulkResult[I, R]:
        bulk = self._bulk

        async def step() -> BulkResult[I, R] | None:
            try:
                return await bulk.__anext__()
            except StopAsyncIteration:
                return None

        try:
            result: BulkResult[I, R] | None = self._run(step)
        except BaseException:  # Ctrl-C or a call timeout: wait until the in-flight items are settled
            with contextlib.suppress(Exception):  # the original error matters more
                self.close()
            raise
        if result is None:
            raise StopIteration
        return result

    def close(self) -> None:
        """Cancel the in-flight items; they land in :attr:`unreported` as ``ambiguous``."""
        if not self._closed_sync:
            self._closed_sync = True
            bulk = self._bulk

            async def stop() -> None:
                await bulk.aclose()

            self._run(stop)
            self.unreported = bulk.unreported

    def __enter__(self) -> SyncBulkRun[I, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
