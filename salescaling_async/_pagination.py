"""Lazy page-number pagination: ``AsyncPaginator[T]``. Strictly private module.

The API pages with ``page`` (1-based) and ``limit`` and does not document what ``count``
means, so the paginator stops on a short (or empty) page, which is right whatever ``count``
is.  Memory stays flat: one page (plus ``prefetch`` pages in flight) and a bounded window of
recent ids for de-duplication.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from ._errors import ConfigError

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of results.

    Attributes:
        items: The records of the page (duplicates already removed).
        number: The page number (1-based); resume with ``start_page=number + 1``.
        limit: The page size asked for.
        count: The envelope's ``count`` as sent by the server (meaning undocumented).
        raw_length: How many records the server returned (before de-duplication).
        headers: The page's HTTP response headers, names in lower case.
            (.. versionadded:: 0.2.0)
        request_id: The server's ``x-request-id`` for the page, when it sent one.
            (.. versionadded:: 0.2.0)

    .. versionadded:: 0.1.0
    """

    items: list[T]
    number: int
    limit: int
    count: int | None
    raw_length: int
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    request_id: str | None = None

    @property
    def is_last(self) -> bool:
        """A short page is the last one."""
        return self.raw_length < self.limit


FetchPage = Callable[[int, int], Awaitable[Page[T]]]


class _RecentIds:
    """A bounded set of the most recently seen ids."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[Any] = deque()
        self._set: set[Any] = set()

    def seen(self, key: Any) -> bool:
        """Record ``key``; return True if it was already among the recent ids."""
        if key in self._set:
            return True
        self._order.append(key)
        self._set.add(key)
        if len(self._order) > self._size:
            self._set.discard(self._order.popleft())
        return False


class AsyncPaginator(Generic[T]):
    """Iterate every record of a list endpoint, fetching pages lazily.

    Use ``async for item in paginator``, or ``paginator.pages()`` for whole pages.

    Args:
        fetch: Fetches one page given ``(page, limit)``.
        limit: Page size.
        start_page: First page to fetch (resume a bulk job from a checkpoint).
        prefetch: Pages fetched ahead concurrently (0: strictly one at a time).  Every
            fetch goes through the rate scheduler, so prefetching never exceeds the budget.
        dedupe_window: How many recent ids are remembered to drop records that shift to the
            next page while the listing changes (0 disables de-duplication).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        limit: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        dedupe_window: int | None = None,
    ) -> None:
        if limit < 1 or start_page < 1 or prefetch < 0:
            raise ConfigError("limit and start_page must be >= 1 and prefetch >= 0")
        self._fetch = fetch
        self.limit = limit
        self.start_page = start_page
        self.prefetch = prefetch
        self.dedupe_window = max(2 * limit, 1000) if dedupe_window is None else dedupe_window
        self.next_page = start_page
        """The first page not yet fully handed out: a resume point."""

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncGenerator[T, None]:
        pages = self.pages()
        try:
            async for page in pages:
                for item in page.items:
                    yield item
        finally:
            await pages.aclose()

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield pages in order until a short page; ``next_page`` advances after each yield."""
        recent = _RecentIds(self.dedupe_window) if self.dedupe_window else None
        pending: deque[asyncio.Task[Page[T]]] = deque()
        number = self.start_page
        try:
            while True:
                while len(pending) <= self.prefetch:
                    pending.append(asyncio.ensure_future(self._fetch(number, self.limit)))
                    number += 1
                page = await pending.popleft()
                if recent is not None:
                    page = attrs.evolve(page, items=[i for i in page.items if not _dup(recent, i)])
                self.next_page = page.number
                yield page
                self.next_page = page.number + 1
                if page.is_last:
                    return
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def first_page(self) -> Page[T]:
        """Fetch only the first page (``start_page``)."""
        return await self._fetch(self.start_page, self.limit)

    async def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect records into a list, at most ``max_items`` (stops fetching there)."""
        out: list[T] = []
        if max_items is not None and max_items <= 0:
            return out
        items = self._items()
        try:
            async for item in items:
                out.append(item)
                if max_items is not None and len(out) >= max_items:
                    break
        finally:
            await items.aclose()  # cancels any prefetched pages now, not at garbage collection
        return out


def _dup(recent: _RecentIds, item: Any) -> bool:
    key = getattr(item, "id", None)
    return key is not None and recent.seen(key)
