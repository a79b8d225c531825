"""What blocking resources need: a :class:`Runner` and :class:`SyncPaginator`. Strictly private
module; ``SyncPaginator`` is public through :mod:`salescaling_async.sync`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Generic, ParamSpec, Protocol, TypeVar

from .._errors import ClientClosedError
from .._pagination import AsyncPaginator, Page

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Runner(Protocol):
    """Strictly private. Runs a coroutine function on the blocking client's loop, blocking."""

    def run(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R: ...


class SyncPaginator(Generic[T]):
    """A blocking iterator over an :class:`AsyncPaginator`, fetching pages lazily.

    Iterating crosses to the client's loop thread once per page (plus once to learn that
    there is no further page), never once per record.

    .. versionadded:: 0.1.0
    """

    def __init__(self, runner: Runner, make: Callable[[], AsyncPaginator[T]]) -> None:
        self._runner = runner
        self._make = make

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def pages(self) -> Generator[Page[T], None, None]:
        """Whole pages, lazily; each carries its response ``headers`` and ``request_id``.

        ``close()`` the generator to stop early (a ``for`` loop left by ``break`` does it at
        garbage collection).
        """
        pages: list[AsyncIterator[Page[T]]] = []

        async def step() -> Page[T] | None:
            if not pages:
                pages.append(self._make().pages())
            try:
                return await pages[0].__anext__()
            except StopAsyncIteration:
                pages.clear()  # finished: nothing left to close
                return None

        async def finish() -> None:
            closer = getattr(pages[0], "aclose", None)
            if closer is not None:
                await closer()

        try:
            while (page := self._runner.run(step)) is not None:
                yield page
        finally:
            if pages:  # stopped early: close the async generator (cancels prefetched pages)
                with contextlib.suppress(ClientClosedError):
                    self._runner.run(finish)

    def first_page(self) -> Page[T]:
        """Fetch only the first page."""
        return self._runner.run(self._async_first)

    def to_list(self, *, max_items: int | None = None) -> list[T]:
        """Collect records into a list, at most ``max_items`` (in one crossing)."""
        return self._runner.run(self._async_to_list, max_items)

    async def _async_first(self) -> Page[T]:
        return await self._make().first_page()

    async def _async_to_list(self, max_items: int | None) -> list[T]:
        return await self._make().to_list(max_items=max_items)
