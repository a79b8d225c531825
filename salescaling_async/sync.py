"""The blocking client: ``Salescaling`` and ``run_sync``, on one long-lived anyio portal.

One ``Salescaling`` owns one blocking portal: a daemon thread running one event loop for the
client's lifetime.  The ``AsyncSalescaling`` it wraps, its aiohttp session and its scheduler
are created inside that loop and never touch another, so every thread of the process that
shares the client shares one connection pool and one rate budget.

* Called from a thread that runs its own loop (a notebook, an ``async def`` route), calls
  still work because the waiting happens on the portal's loop; a
  :class:`SyncInAsyncContextWarning` says once that the caller's loop is blocked
  (``strict=True`` raises instead).  Called from the portal's own thread, they raise rather
  than deadlock.
* Ctrl-C, or ``call_timeout``, cancels the task on the portal before re-raising.
* After ``os.fork()`` the child forgets the parent's portal (its thread does not exist
  there) and builds its own on first use.
* ``close()`` closes the session inside the loop, then stops the loop; a client that is
  garbage-collected while open warns with ``ResourceWarning`` and is stopped.

Resources are proxied generically: a blocking resource declares one line per method
(``get = blocking(Contacts.get)``), which keeps the async signature for type checkers
without copying it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._bulk import BulkRun
from ._bulk_sync import SyncBulkRun
from ._errors import ClientClosedError, SalescalingError
from ._pagination import AsyncPaginator, Page
from ._resources import (
    CalendarEvents,
    Calendars,
    Calls,
    Companies,
    Contacts,
    Meetings,
    Opportunities,
    Users,
    VoiceAgents,
)
from ._session import AsyncSalescaling

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncInAsyncContextWarning(RuntimeWarning):
    """A blocking call was made from a thread whose event loop is running (and now blocked).

    .. versionadded:: 0.1.0
    """


class _Portal:
    """Strictly private. One portal thread and the async client living in it."""

    def __init__(self, client: AsyncSalescaling) -> None:
        self._cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(name="salescaling-portal")
        self.portal = self._cm.__enter__()
        self.thread_id = self.portal.call(threading.get_ident)
        self.client = client
        self.portal.call(client.__aenter__)  # binds the client to the portal's loop now

    def stop(self) -> None:
        try:
            self.portal.call(self.client.aclose)
        finally:
            self._cm.__exit__(None, None, None)


_live: weakref.WeakSet[Salescaling] = weakref.WeakSet()
_orphans: list[Any] = []  # portals inherited through fork: never touched, never collected


def _after_fork_in_child() -> None:
    global _default
    for client in list(_live):
        client._forget_portal()
    if _default is not None:
        _orphans.append(_default)
    _default = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Salescaling:
    """The blocking client: the full SDK with blocking calls.

    Takes the same arguments as :class:`AsyncSalescaling`, plus:

    Args:
        strict: Raise instead of warning when called from a thread running an event loop.
        call_timeout: Seconds a blocking call may take before it is cancelled
            (``TimeoutError``); ``None`` relies on the client's own timeouts.

    Safe to share between threads.  Use as ``with Salescaling() as client:`` or call
    :meth:`close`.

    .. versionadded:: 0.1.0
    """

    def __init__(self, api_key: str | None = None, *, strict: bool = False,
                 call_timeout: float | None = None, **kwargs: Any) -> None:  # fmt: skip
        # Built now, in the caller's thread, so that bad input fails before any thread starts.
        # It binds to no loop until the portal enters it; a forked child builds a fresh one.
        self._unbound: AsyncSalescaling | None = AsyncSalescaling(api_key, **kwargs)
        self._factory: Callable[[], AsyncSalescaling] = lambda: AsyncSalescaling(api_key, **kwargs)
        self.strict = strict
        self.call_timeout = call_timeout
        self._lock = threading.Lock()
        self._portal: _Portal | None = None
        self._closed = False
        self._warned = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        _live.add(self)
        self.calls = _SyncCalls(self, "calls")
        self.contacts = _SyncContacts(self, "contacts")
        self.companies = _SyncCompanies(self, "companies")
        self.meetings = _SyncMeetings(self, "meetings")
        self.opportunities = _SyncOpportunities(self, "opportunities")
        self.calendars = _SyncCalendars(self, "calendars")
        self.calendar_events = _SyncCalendarEvents(self, "calendar_events")
        self.users = _SyncUsers(self, "users")
        self.voice_agents = _SyncVoiceAgents(self, "voice_agents")

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Salescaling:
        self._get_portal()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session inside the loop, then stop the loop thread. Idempotent."""
        with self._lock:
            self._closed = True
            portal, self._portal = self._portal, None
            if self._finalizer is not None:
                self._finalizer.detach()
        if portal is not None:
            portal.stop()

    def _forget_portal(self) -> None:
        """In a forked child: the portal thread does not exist here; build a new one lazily.

        The parent's portal object is kept alive on purpose: letting it be collected would
        run its context manager's exit, which waits forever for a thread that is not here.
        """
        self._lock = threading.Lock()
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._portal is not None:
            _orphans.append(self._portal)
        self._portal = None

    def _get_portal(self) -> _Portal:
        with self._lock:
            if self._closed:
                raise ClientClosedError("the client is closed")
            if self._portal is None:
                client, self._unbound = self._unbound or self._factory(), None
                self._portal = _Portal(client)
                self._finalizer = weakref.finalize(self, _warn_unclosed, self._portal)
            return self._portal

    @property
    def async_client(self) -> AsyncSalescaling:
        """The async client living on the portal's loop (use it only in code run by :meth:`run`)."""
        return self._get_portal().client

    # -- running ----------------------------------------------------------------------------

    def run(self, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a coroutine function on this client's loop and return its result."""
        portal = self._get_portal()
        self._check_caller(portal)

        async def call() -> R:
            return await fn(*args, **kwargs)

        future = portal.portal.start_task_soon(call)
        try:
            return future.result(timeout=self.call_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"blocking call exceeded call_timeout={self.call_timeout}s") from None
        except BaseException:  # KeyboardInterrupt and friends: cancel the task, then re-raise
            future.cancel()
            raise

    def _check_caller(self, portal: _Portal) -> None:
        if threading.get_ident() == portal.thread_id:
            raise SalescalingError(
                "a blocking Salescaling call was made from its own event-loop thread "
                "(it would deadlock); use the async client there"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        message = (
            "blocking Salescaling call from a thread running an event loop: that loop is "
            "blocked until the call returns; use AsyncSalescaling in async code"
        )
        if self.strict:
            raise SalescalingError(message)
        if not self._warned:
            self._warned = True
            warnings.warn(message, SyncInAsyncContextWarning, stacklevel=4)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Blocking :meth:`AsyncSalescaling.request`."""
        return self.run(lambda: self.async_client.request(method, path, **kwargs))

    def statistics(self) -> Any:
        """This key's :class:`KeyStatistics` (read on the loop thread)."""
        return self.run(_stats, self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._portal else "unopened")
        return f"<Salescaling state={state}>"


async def _stats(client: Salescaling) -> Any:
    return client.async_client.statistics()


def _warn_unclosed(portal: _Portal) -> None:
    warnings.warn("Salescaling client was never closed; call close()", ResourceWarning, stacklevel=1)
    with contextlib.suppress(Exception):  # best effort at garbage collection / exit
        portal.stop()


# -- blocking resources and paginators --------------------------------------------------------


class SyncPaginator(Generic[T]):
    """A blocking iterator over an :class:`AsyncPaginator`, fetching pages lazily.

    .. versionadded:: 0.1.0
    """

    def __init__(self, client: Salescaling, make: Callable[[], AsyncPaginator[T]]) -> None:
        self._client = client
        self._make = make

    def __iter__(self) -> Iterator[T]:
        return self._drain(lambda p: p.__aiter__())

    def pages(self) -> Iterator[Page[T]]:
        """Whole pages, lazily."""
        return self._drain(lambda p: p.pages())

    def first_page(self) -> Page[T]:
        return self._client.run(self._async_first)

    def to_list(self, *, max_items: int | None = None) -> list[T]:
        return self._client.run(self._async_to_list, max_items)

    async def _async_first(self) -> Page[T]:
        return await self._make().first_page()

    async def _async_to_list(self, max_items: int | None) -> list[T]:
        return await self._make().to_list(max_items=max_items)

    def _drain(self, start: Callable[[AsyncPaginator[T]], AsyncIterator[R]]) -> Iterator[R]:
        holder: list[AsyncIterator[R]] = []

        async def begin() -> None:
            holder.append(start(self._make()))

        async def step() -> tuple[bool, R | None]:
            try:
                return True, await holder[0].__anext__()
            except StopAsyncIteration:
                return False, None

        async def finish() -> None:
            closer = getattr(holder[0], "aclose", None)
            if closer is not None:
                await closer()

        self._client.run(begin)
        try:
            while True:
                more, value = self._client.run(step)
                if not more:
                    return
                yield value  # type: ignore[misc]  # value is R whenever more is True
        finally:
            if not self._client._closed:
                self._client.run(finish)


def blocking(fn: Callable[Concatenate[Any, P], Awaitable[R]]) -> Callable[Concatenate[Any, P], R]:
    """Turn an async resource method into a blocking one with the same parameters."""
    name = fn.__name__

    def method(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> R:
        async def call() -> R:
            resource = getattr(self._client.async_client, self._name)
            result: R = await getattr(resource, name)(*args, **kwargs)
            return result

        return self._client.run(call)

    method.__name__ = name
    method.__doc__ = fn.__doc__
    return method


def paginated(
    fn: Callable[Concatenate[Any, P], AsyncPaginator[T]],
) -> Callable[Concatenate[Any, P], SyncPaginator[T]]:
    """Turn an async ``list`` method into one returning a blocking :class:`SyncPaginator`."""
    name = fn.__name__

    def method(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> SyncPaginator[T]:
        def make() -> AsyncPaginator[T]:
            resource = getattr(self._client.async_client, self._name)
            paginator: AsyncPaginator[T] = getattr(resource, name)(*args, **kwargs)
            return paginator

        return SyncPaginator(self._client, make)

    method.__name__ = name
    method.__doc__ = fn.__doc__
    return method


def bulk(
    fn: Callable[Concatenate[Any, P], BulkRun[T, R]],
) -> Callable[Concatenate[Any, P], SyncBulkRun[T, R]]:
    """Turn ``create_many``/``reconcile`` into one returning a plain :class:`SyncBulkRun`."""
    name = fn.__name__

    def method(self: _SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> SyncBulkRun[T, R]:
        def make() -> BulkRun[T, R]:
            run: BulkRun[T, R] = getattr(getattr(self._client.async_client, self._name), name)(*args, **kwargs)
            return run

        return SyncBulkRun(lambda step: self._client.run(step), make)

    method.__name__ = name
    method.__doc__ = fn.__doc__
    return method


class _SyncResource:
    def __init__(self, client: Salescaling, name: str) -> None:
        self._client = client
        self._name = name


class _SyncCalls(_SyncResource):
    list = paginated(Calls.list)
    get = blocking(Calls.get)
    upload = blocking(Calls.upload)


class _SyncContacts(_SyncResource):
    list = paginated(Contacts.list)
    get = blocking(Contacts.get)
    create = blocking(Contacts.create)
    create_many = bulk(Contacts.create_many)
    reconcile = bulk(Contacts.reconcile)


class _SyncOpportunities(_SyncResource):
    list = paginated(Opportunities.list)
    get = blocking(Opportunities.get)
    create = blocking(Opportunities.create)
    create_many = bulk(Opportunities.create_many)
    reconcile = bulk(Opportunities.reconcile)


class _SyncCalendars(_SyncResource):
    list = paginated(Calendars.list)
    get = blocking(Calendars.get)
    create = blocking(Calendars.create)
    create_many = bulk(Calendars.create_many)
    reconcile = bulk(Calendars.reconcile)


class _SyncCalendarEvents(_SyncResource):
    list = paginated(CalendarEvents.list)
    get = blocking(CalendarEvents.get)
    create = blocking(CalendarEvents.create)
    create_many = bulk(CalendarEvents.create_many)
    reconcile = bulk(CalendarEvents.reconcile)


class _SyncUsers(_SyncResource):
    list = paginated(Users.list)
    update_metadata = blocking(Users.update_metadata)


class _SyncCompanies(_SyncResource):
    list = paginated(Companies.list)
    get = blocking(Companies.get)
    create = blocking(Companies.create)
    create_many = bulk(Companies.create_many)
    reconcile = bulk(Companies.reconcile)


class _SyncMeetings(_SyncResource):
    list = paginated(Meetings.list)
    get = blocking(Meetings.get)
    create = blocking(Meetings.create)
    create_many = bulk(Meetings.create_many)
    reconcile = bulk(Meetings.reconcile)


class _SyncVoiceAgents(_SyncResource):
    list = paginated(VoiceAgents.list)
    get = blocking(VoiceAgents.get)
    create = blocking(VoiceAgents.create)
    create_many = bulk(VoiceAgents.create_many)
    reconcile = bulk(VoiceAgents.reconcile)


# -- run_sync ---------------------------------------------------------------------------------

_default: tuple[AbstractContextManager[BlockingPortal], BlockingPortal] | None = None
_default_lock = threading.Lock()


def _close_default() -> None:
    """At exit, stop the shared portal while the interpreter is still whole."""
    global _default
    with _default_lock:
        default, _default = _default, None
    if default is not None:
        with contextlib.suppress(Exception):
            default[0].__exit__(None, None, None)


atexit.register(_close_default)


def run_sync(fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a coroutine function on the process-wide SDK portal and return its result.

    The portal is one daemon thread with one event loop, created on first use (again after a
    fork), so ``AsyncSalescaling`` clients created inside ``fn`` can be kept and reused by
    later ``run_sync`` calls from any thread.

    .. versionadded:: 0.1.0
    """
    global _default
    with _default_lock:
        if _default is None:
            cm = start_blocking_portal(name="salescaling-run-sync")
            _default = (cm, cm.__enter__())
        portal = _default[1]

    async def call() -> R:
        return await fn(*args, **kwargs)

    future = portal.start_task_soon(call)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise
