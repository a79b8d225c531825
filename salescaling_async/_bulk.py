"""Bulk writes: a bounded, lazy, cancellation-safe engine of per-item outcomes.

Strictly private; the public names (:class:`BulkResult`, :class:`BulkProgress`,
:class:`BulkRun`) are re-exported by the package root, and resources reach the engine
through ``create_many``/``reconcile`` (``_bulk_resource``).

How one run works.  ``BulkRun`` is an async iterator; all of its work happens inside
``__anext__``, in the consumer's task, so a cancellation of the consumer lands here and
nothing runs unowned:

* Items are taken from the input only when there is room: at most ``concurrency`` tasks run,
  and at most ``buffer`` finished results wait to be yielded.  Memory is therefore bounded by
  ``concurrency + buffer`` items whatever the input's length (a sync or async iterable).
* An async input is advanced by one "pull" task that races the running items, so a slow
  source never holds back results that are ready.
* ``ordered=True`` yields results in input order (finished ones wait for earlier ones within
  the buffer); ``ordered=False`` yields them as they finish.
* If the consumer is cancelled, or leaves the loop and calls :meth:`BulkRun.aclose` (``async
  with`` does it), every running item is cancelled and reported ``ambiguous`` (its request
  may have been sent).  Those, and finished results not yet yielded, are kept in
  :attr:`BulkRun.unreported` and passed to ``on_progress``: no item taken from the input is
  silently dropped.
* An exception raised by the input iterable stops the intake; the items already running
  are still yielded, then the exception is raised.

The classification rule (:func:`outcome_of`) is the one fact that matters for writes:
``error`` only when the server certainly did not apply the write, ``ambiguous`` whenever it
may have.

Size: one module (~370 lines) because lazy intake, the concurrency bound, ordering and the
cancellation rules are one state machine whose invariants the tests state together.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, Literal, TypeVar, Union

import attrs

from ._errors import APIStatusError, ConfigError, ResponseValidationError, SalescalingError, TransportError

I = TypeVar("I")  # noqa: E741 - the item type, named like the docs
R = TypeVar("R")
T = TypeVar("T")

BulkStatus = Literal["created", "error", "ambiguous"]
"""Outcome of one item: ``created``, ``error`` (certainly not applied) or ``ambiguous``."""

ItemSource = Union[Iterable[I], AsyncIterable[I]]


@attrs.frozen
class BulkResult(Generic[I, R]):
    """The outcome of one item of a bulk write.

    Attributes:
        index: Position of the item in the input (0-based).
        status: ``created``: the record exists (``record``); ``error``: the server certainly
            did not apply the write (a 4xx, or a failure before sending; ``error``);
            ``ambiguous``: it may have (a 5xx, a timeout or a connection lost after sending,
            a cancelled request); settle it with ``reconcile``.
        item: The input item, for retries, reconciliation and reports.
        record: The created record (``created`` only).
        error: What went wrong (``error`` and ``ambiguous``; a ``CancelledError`` for items
            cancelled in flight).
        candidates: Several records that match an ambiguous item (from ``reconcile``).

    .. versionadded:: 0.2.0
    """

    index: int
    status: BulkStatus
    item: I
    record: R | None = None
    error: BaseException | None = attrs.field(default=None, eq=False)
    candidates: tuple[R, ...] = ()


@attrs.frozen
class BulkProgress:
    """Counts of a bulk run, passed to ``on_progress`` after every settled item.

    Attributes:
        taken: Items taken from the input so far.
        created: Items settled ``created``.
        errors: Items settled ``error``.
        ambiguous: Items settled ``ambiguous``.
        in_flight: Items running now.
        last: The result that triggered this call.

    .. versionadded:: 0.2.0
    """

    taken: int
    created: int
    errors: int
    ambiguous: int
    in_flight: int
    last: BulkResult[Any, Any]

    @property
    def done(self) -> int:
        """Items settled so far."""
        return self.created + self.errors + self.ambiguous


def outcome_of(exc: BaseException) -> BulkStatus:
    """``error`` if the failure proves the write was not applied, else ``ambiguous``.

    * A status answer below 500 (400, 401, 403, 404, 409, 422, 429...) is the server
      refusing the request: ``error``.  A 5xx may come after the write: ``ambiguous``.
    * A transport failure is ``error`` only when proven to happen before sending
      (``sent=False``, e.g. a refused connection).
    * Other SDK errors (bad input, missing scope, closed client, deadline) are raised before
      anything is sent: ``error``.  A ``ResponseValidationError`` means an answer came but
      could not be read, perhaps after the write: ``ambiguous``.
    * Anything else (a cancellation, an unexpected exception) is ``ambiguous``: we cannot
      prove nothing was sent.
    """
    if isinstance(exc, APIStatusError):
        return "ambiguous" if exc.status_code >= 500 else "error"
    if isinstance(exc, TransportError):
        return "ambiguous" if exc.sent else "error"
    if isinstance(exc, SalescalingError) and not isinstance(exc, ResponseValidationError):
        return "error"
    return "ambiguous"


Work = Callable[[int, I], Awaitable[BulkResult[I, R]]]


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 1000:
        raise ConfigError(f"concurrency must be an integer from 1 to 1000, got {concurrency!r}")
    return concurrency


class _Done:
    """Strictly private. Marks an exhausted input."""


_DONE = _Done()


class BulkRun(Generic[I, R]):
    """An async iterator of :class:`BulkResult`, one per input item.

    Made by ``client.<resource>.create_many(...)`` and ``.reconcile(...)``.  Use it as
    ``async for result in run`` or, to cancel the in-flight items promptly when leaving the
    loop early, ``async with run: async for result in run``.

    Attributes:
        unreported: After a cancellation or an early :meth:`aclose`, the results of every
            item taken from the input but not yielded (in-flight items as ``ambiguous``),
            sorted by index.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        items: ItemSource[I],
        work: Work[I, R],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        on_progress: Callable[[BulkProgress], None] | None = None,
    ) -> None:
        self._concurrency = check_concurrency(concurrency)
        self._buffer = concurrency * (4 if ordered else 2)
        self._ordered = ordered
        self._work = work
        self._on_progress = on_progress
        self._sync: Iterator[I] | None = None
        self._async: AsyncIterator[I] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
        elif isinstance(items, Iterable) and not isinstance(items, (str, bytes, dict)):
            self._sync = iter(items)
        else:
            raise ConfigError(f"items must be an iterable or async iterable, got {type(items).__name__}")
        self._pull: asyncio.Task[I | _Done] | None = None
        self._running: dict[asyncio.Task[BulkResult[I, R]], tuple[int, I]] = {}
        self._ready: deque[BulkResult[I, R]] = deque()  # unordered mode
        self._waiting: dict[int, BulkResult[I, R]] = {}  # ordered mode, by index
        self._next_index = 0  # ordered mode: the next index to yield
        self._taken = 0
        self._counts = {"created": 0, "error": 0, "ambiguous": 0}
        self._exhausted = False
        self._source_error: BaseException | None = None
        self._closed = False
        self._aborting: asyncio.Event | None = None  # set once the abort has finished
        self.unreported: list[BulkResult[I, R]] = []

    # -- iteration ----------------------------------------------------------------------------

    def __aiter__(self) -> BulkRun[I, R]:
        return self

    async def __anext__(self) -> BulkResult[I, R]:
        if self._closed:
            raise StopAsyncIteration
        try:
            while True:
                self._fill()
                result = self._pop()
                if result is not None:
                    return result
                waiting: set[asyncio.Future[Any]] = set(self._running)
                if self._pull is not None:
                    waiting.add(self._pull)
                if not waiting:
                    self._closed = True
                    if self._source_error is not None:
                        raise self._source_error
                    raise StopAsyncIteration
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                self._collect()
        except asyncio.CancelledError:
            await self._abort()
            raise

    async def __aenter__(self) -> BulkRun[I, R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel the in-flight items (reported ``ambiguous`` in :attr:`unreported`).

        Returns once every in-flight item is settled, also when a cancellation started the
        stop a moment earlier.
        """
        if self._aborting is not None:
            await self._aborting.wait()
        elif not self._closed:
            await self._abort()

    # -- internals ----------------------------------------------------------------------------

    def _room(self) -> bool:
        buffered = len(self._waiting) + len(self._ready)
        return len(self._running) < self._concurrency and len(self._running) + buffered < self._buffer

    def _fill(self) -> None:
        """Start items while there is room (sync input) or keep one pull going (async input)."""
        while not self._exhausted and self._room():
            if self._async is not None:
                if self._pull is None:
                    self._pull = asyncio.ensure_future(_pull(self._async))
                return
            assert self._sync is not None
            try:
                item = next(self._sync)
            except StopIteration:
                self._exhausted = True
            except Exception as exc:  # noqa: BLE001 - the caller's iterable failed: drain, then raise it
                self._exhausted, self._source_error = True, exc
            else:
                self._start(item)

    def _start(self, item: I) -> None:
        index, self._taken = self._taken, self._taken + 1
        task = asyncio.ensure_future(self._work(index, item))
        self._running[task] = (index, item)

    def _collect(self) -> None:
        pull = self._pull
        if pull is not None and pull.done():
            self._pull = None
            try:
                item = pull.result()
            except Exception as exc:  # noqa: BLE001 - the caller's iterable failed: drain, then raise it
                self._exhausted, self._source_error = True, exc
            else:
                if isinstance(item, _Done):
                    self._exhausted = True
                else:
                    self._start(item)
        for task in [t for t in self._running if t.done()]:
            position, item = self._running.pop(task)
            self._settle(position, _result_of(task, position, item))

    def _settle(self, position: int, result: BulkResult[I, R]) -> None:
        if self._ordered:
            self._waiting[position] = result
        else:
            self._ready.append(result)
        self._counts[result.status] += 1
        if self._on_progress is not None:
            self._on_progress(
                BulkProgress(
                    self._taken,
                    self._counts["created"],
                    self._counts["error"],
                    self._counts["ambiguous"],
                    len(self._running),
                    result,
                )
            )

    def _pop(self) -> BulkResult[I, R] | None:
        if not self._ordered:
            return self._ready.popleft() if self._ready else None
        result = self._waiting.pop(self._next_index, None)
        if result is not None:
            self._next_index += 1
        return result

    async def _abort(self) -> None:
        """Cancel everything in flight; keep every unyielded result in ``unreported``."""
        self._closed = self._exhausted = True
        self._aborting = asyncio.Event()
        tasks: list[asyncio.Future[Any]] = list(self._running)
        if self._pull is not None:
            tasks.append(self._pull)
        for task in tasks:
            task.cancel()
        # Wait until every task has finished, even if we are cancelled meanwhile: anyio's
        # cancel scopes re-cancel each await, so loop on a shielded wait until all are done.
        interrupted = False
        while any(not task.done() for task in tasks):
            try:
                await asyncio.shield(asyncio.wait(tasks))
            except asyncio.CancelledError:
                interrupted = True
        pull, self._pull = self._pull, None
        self._collect()
        if pull is not None and not pull.cancelled() and pull.exception() is None:
            item = pull.result()  # taken from the input but never started: certainly not sent
            if not isinstance(item, _Done):
                index, self._taken = self._taken, self._taken + 1
                self._settle(index, BulkResult(index, "error", item, error=asyncio.CancelledError()))
        pending = list(self._ready) + list(self._waiting.values())  # never yielded
        self._ready.clear()
        self._waiting.clear()
        self.unreported = sorted(pending, key=lambda r: r.index)
        self._aborting.set()
        if interrupted:
            raise asyncio.CancelledError


async def _pull(source: AsyncIterator[I]) -> I | _Done:
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        return _DONE


def _result_of(task: asyncio.Task[BulkResult[I, R]], index: int, item: Any) -> BulkResult[I, R]:
    if task.cancelled():
        if isinstance(item, BulkResult):  # reconcile: keep the original index and item
            if item.status != "ambiguous":
                return item  # a pass-through entry
            return attrs.evolve(item, error=asyncio.CancelledError())
        return BulkResult(index, "ambiguous", item, error=asyncio.CancelledError())
    exc = task.exception()
    if exc is not None:  # work functions settle their own errors; this is a safety net
        return BulkResult(index, outcome_of(exc), item, error=exc)
    return task.result()


async def create_one(create: Callable[[I], Awaitable[R]], index: int, item: I) -> BulkResult[I, R]:
    """Create one item and classify the outcome (strictly private helper of ``create_many``)."""
    try:
        record = await create(item)
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome, classified below
        return BulkResult(index, outcome_of(exc), item, error=exc)
    return BulkResult(index, "created", item, record=record)
