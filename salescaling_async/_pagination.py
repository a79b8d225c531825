"""Lazy page-number pagination: ``AsyncPaginator[T]``. Strictly private module.

The API pages with ``page`` (1-based) and ``limit`` and does not document what ``count``
means (reference.md §3: "stop when a page returns fewer than ``limit`` items").  Memory
stays flat: one page (plus ``prefetch`` pages in flight) and a bounded window of recent ids.

Iteration always ends.  In order, after each page:

1. **No new id**: a non-empty page whose records all carry ids already seen (a server that
   repeats a page forever) ends it, with a warning, without handing the page out.
2. **Records without ids**: more than ``max_without_id`` of them in one iteration (nothing
   can tell a loop from progress) ends it after the page, with a warning.
3. **A short (or empty) page** ends it: the documented rule, right whatever ``count`` is.
   If ``count`` is known to be a total and says more records exist, a warning reports the
   difference (the listing shrank while paging, or ``count`` is not a total after all).
4. **``count`` reached**: ``count`` is taken as a total once a page's ``count`` exceeds the
   records on that page (a per-page count never can).  When the records handed out
   (``(page - 1) * limit`` plus this page) reach it, iteration ends without fetching the
   empty page the short-page rule would need.  A page that crosses it (the listing grew,
   or ``count`` is not a total after all) is cut at the count, with a warning: at most
   ``count`` records are handed out.

``AsyncPaginator.end_reason`` tells which rule ended the iteration and ``total`` the count
when it was known to be one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._errors import ConfigError
from ._frozen import positional_maker

T = TypeVar("T")
log = logging.getLogger("salescaling_async")

EndReason = Literal["short_page", "count_reached", "no_new_ids", "too_many_without_ids"]


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


make_page: Callable[[list[Any], int, int, int | None, int, Mapping[str, str], str | None], Page[Any]] = (
    positional_maker(Page)
)
"""``Page(items, number, limit, count, raw_length, headers, request_id)``, built fast (see ``_frozen``)."""

FetchPage = Callable[[int, int], Awaitable[Page[T]]]


class _RecentIds:
    """A bounded set of the most recently seen ids."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[Any] = deque()
        self._set: set[Any] = set()

    def sift(self, items: list[Any]) -> tuple[list[Any], int, int]:
        """Record the ids of a page's records, in one pass.

        Returns:
            The records to hand out (those with an id not seen recently, and those without
            an id), how many had a new id, and how many had none.
        """
        known, order, size = self._set, self._order, self._size
        kept: list[Any] = []
        fresh = missing = 0
        for item in items:
            key = getattr(item, "id", None)
            if key is None:
                missing += 1
            elif key in known:
                continue
            else:
                fresh += 1
                order.append(key)
                known.add(key)
                if len(order) > size:
                    known.discard(order.popleft())
            kept.append(item)
        return kept, fresh, missing


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
            next page while the listing changes (0 disables de-duplication; repeated pages
            are still detected).
        max_without_id: How many records without an id one iteration accepts before it
            ends (default: ten pages' worth, at least 1000).

    Attributes:
        end_reason: Why the last iteration ended (``None`` while running or if stopped by
            the caller): ``"short_page"``, ``"count_reached"``, ``"no_new_ids"`` or
            ``"too_many_without_ids"``.  The last two are logged as warnings.
        total: The envelope's ``count`` once it is known to be a total, else ``None``.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Always ends: ``end_reason``, ``total`` and ``max_without_id``.
    """

    # Slotted: a paginator is made for every ``list()`` call, ``first_page()`` ones included.
    __slots__ = (
        "__weakref__",
        "_fetch",
        "dedupe_window",
        "end_reason",
        "limit",
        "max_without_id",
        "next_page",
        "prefetch",
        "start_page",
        "total",
    )

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        limit: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        dedupe_window: int | None = None,
        max_without_id: int | None = None,
    ) -> None:
        if limit < 1 or start_page < 1 or prefetch < 0:
            raise ConfigError("limit and start_page must be >= 1 and prefetch >= 0")
        if max_without_id is not None and max_without_id < 0:
            raise ConfigError("max_without_id must be >= 0")
        self._fetch = fetch
        self.limit = limit
        self.start_page = start_page
        self.prefetch = prefetch
        # (conditional expressions rather than max(): a paginator is made per list() call)
        self.dedupe_window = (2 * limit if limit > 500 else 1000) if dedupe_window is None else dedupe_window
        self.max_without_id = (10 * limit if limit > 100 else 1000) if max_without_id is None else max_without_id
        self.next_page = start_page
        """The first page not yet fully handed out: a resume point."""
        self.end_reason: EndReason | None = None
        self.total: int | None = None

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
        """Yield pages in order until one of the end rules; ``next_page`` advances after each."""
        recent = _RecentIds(self.dedupe_window or 2 * self.limit)
        pending: deque[asyncio.Task[Page[T]]] = deque()
        number = self.start_page
        without_id = 0
        self.end_reason, self.total = None, None
        try:
            while True:
                while len(pending) <= self.prefetch:
                    pending.append(asyncio.ensure_future(self._fetch(number, self.limit)))
                    number += 1
                page = self._cap(await pending.popleft())
                kept, fresh, missing = recent.sift(page.items)
                if page.items and not fresh and not missing and not page.is_last:
                    self._end("no_new_ids", page, logging.WARNING)
                    return
                without_id += missing
                if self.dedupe_window and len(kept) < len(page.items):
                    page = attrs.evolve(page, items=kept)
                self.next_page = page.number
                yield page
                self.next_page = page.number + 1
                reason = self._reason(page, without_id)
                if reason is not None:
                    return
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _cap(self, page: Page[T]) -> Page[T]:
        """Learn the total from ``page``; cut a page that crosses it to the records within it."""
        if page.count is not None and page.count > page.raw_length:
            self.total = page.count
        if self.total is None:
            return page
        room = max(self.total - (page.number - 1) * page.limit, 0)
        if page.raw_length <= room:
            return page
        log.warning(
            "pagination: page %d crosses the total count %d (%d records through it); "
            "stopping at the count, %d records of the page dropped",
            page.number,
            self.total,
            (page.number - 1) * page.limit + page.raw_length,
            page.raw_length - room,
        )
        return attrs.evolve(page, items=page.items[:room])

    def _reason(self, page: Page[T], without_id: int) -> EndReason | None:
        """Apply the end rules after ``page`` was handed out (see the module docstring)."""
        seen = (page.number - 1) * page.limit + page.raw_length
        if without_id > self.max_without_id:
            return self._end("too_many_without_ids", page, logging.WARNING)
        if page.is_last:
            short_of_total = self.total is not None and seen < self.total
            return self._end("short_page", page, logging.WARNING if short_of_total else logging.DEBUG)
        if self.total is not None and seen >= self.total:
            return self._end("count_reached", page, logging.DEBUG)
        return None

    def _end(self, reason: EndReason, page: Page[T], level: int) -> EndReason:
        self.end_reason = reason
        seen = (page.number - 1) * page.limit + page.raw_length
        log.log(
            level,
            "pagination ended at page %d (%s): %d records of %d per page, %d through this page, count %s",
            page.number,
            _EXPLAIN[reason],
            page.raw_length,
            page.limit,
            seen,
            self.total if self.total is not None else page.count,
        )
        return reason

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


_EXPLAIN: dict[EndReason, str] = {
    "short_page": "short page",
    "count_reached": "count reached",
    "no_new_ids": "the page repeats only ids already seen; the server is looping",
    "too_many_without_ids": "too many records without an id to tell progress from a loop",
}
