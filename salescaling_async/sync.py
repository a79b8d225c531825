"""The blocking client: ``Salescaling`` and ``run_sync``, on one long-lived anyio portal.

One ``Salescaling`` owns one blocking portal: a daemon thread running one event loop for the
client's lifetime.  The ``AsyncSalescaling`` it wraps, its aiohttp session and its scheduler
are created inside that loop and never touch another, so every thread of the process that
shares the client shares one connection pool and one rate budget.  Views made by
:meth:`Salescaling.with_key` and :meth:`Salescaling.with_options` share them too.

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

Resources are not copied here: the client inherits the same resource groups as the async
client, in their blocking mode (``_resources._operations``), so a new resource appears on both
clients with full types and no line in this module.  The loop thread itself (portal, fork and
exit safety, ``run_sync``) lives in ``_portal``.  This module passes 300 lines only because the
constructor mirrors ``AsyncSalescaling``'s typed signature and docstring one for one.

Size: ~400 lines because the blocking client mirrors every argument of ``AsyncSalescaling``
explicitly (typed, checked by a test), and the portal's fork and exit safety is its own module.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from ._breaker import BreakerConfig
from ._cache import Cache
from ._clock import Clock
from ._config import PoolLimits, RateLimits, ResponseLimits, RetryConfig, Timeouts
from ._convert import Envelope
from ._endpoints import Endpoint
from ._errors import ClientClosedError, SalescalingError
from ._events import Event
from ._portal import Portal, live_clients, orphans, run_sync, warn_unclosed
from ._resources import BlockingGroups, SyncPaginator
from ._scheduler import KeyStatistics
from ._session import AsyncSalescaling
from ._stores import BudgetStore
from ._transport import Transport
from ._types import UNSET, Params, Priority, UnsetType

__all__ = ["Salescaling", "SyncInAsyncContextWarning", "SyncPaginator", "run_sync"]

P = ParamSpec("P")
R = TypeVar("R")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class SyncInAsyncContextWarning(RuntimeWarning):
    """A blocking call was made from a thread whose event loop is running (and now blocked).

    .. versionadded:: 0.1.0
    """


class Salescaling(BlockingGroups):
    """The blocking client: the full SDK with blocking calls.

    Takes the same arguments as :class:`AsyncSalescaling`, plus ``strict`` and
    ``call_timeout``.  Hooks (``on_event``) run on the client's loop thread.

    Args:
        api_key: The key (default: ``SALESCALING_API_KEY``).  Never logged or shown.
        base_url: Default ``SALESCALING_BASE_URL`` or ``https://api.salescaling.com/api/v1/``.
        timeout: Per-attempt :class:`Timeouts`, one number for the total, or ``None``.
        retry: The :class:`RetryConfig`.
        limits: The key's :class:`RateLimits`.
        pool: Connection pool size.
        response_limits: Bounds on responses (:class:`ResponseLimits`).
        cache: A response cache for GETs (:class:`MemoryCache`, :class:`RedisCache`).
        scopes: The key's scopes, if known (checked before anything is sent).
        priority: Default lane of this client's requests.
        allow_insecure: Allow plain ``http://`` to non-loopback hosts.
        on_event: Hook called with every throttle wait, 429 and retry event.
        budget: Where each key's rate log lives (:class:`RedisBudget` for fleets).
        max_queue: At most this many requests queued per key (:class:`QueueFullError`).
        interactive_reserve: The share of each window bulk requests may not take.
        bulk_pacing: Pace bulk requests while interactive ones come (``False``: bursts).
        breaker: Fail fast after repeated upstream failures (:class:`BreakerConfig`).
        transport: A custom transport.
        clock: A custom clock.
        seed: Seed of the backoff jitter.
        strict: Raise instead of warning when called from a thread running an event loop.
        call_timeout: Seconds a blocking call may take before it is cancelled
            (``TimeoutError``); ``None`` relies on the client's own timeouts.

    Safe to share between threads.  Use as ``with Salescaling() as client:`` or call
    :meth:`close`.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 An explicit, typed signature; :meth:`with_key` and
       :meth:`with_options`; ``with_raw_response`` on every resource.
    """

    _requester: _PortalRequester

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeouts | float | UnsetType | None = UNSET,
        retry: RetryConfig | None = None,
        limits: RateLimits | None = None,
        pool: PoolLimits | None = None,
        response_limits: ResponseLimits | None = None,
        cache: Cache | None = None,
        scopes: Iterable[str] | None = None,
        priority: Priority = Priority.INTERACTIVE,
        allow_insecure: bool = False,
        on_event: Callable[[Event], None] | None = None,
        budget: BudgetStore | None = None,
        max_queue: int | None = None,
        interactive_reserve: float = 0.05,
        bulk_pacing: bool = True,
        breaker: BreakerConfig | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        strict: bool = False,
        call_timeout: float | None = None,
    ) -> None:
        factory = functools.partial(
            AsyncSalescaling,
            api_key,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            limits=limits,
            pool=pool,
            response_limits=response_limits,
            cache=cache,
            scopes=scopes,
            priority=priority,
            allow_insecure=allow_insecure,
            on_event=on_event,
            budget=budget,
            max_queue=max_queue,
            interactive_reserve=interactive_reserve,
            bulk_pacing=bulk_pacing,
            breaker=breaker,
            transport=transport,
            clock=clock,
            seed=seed,
        )
        # Built now, in the caller's thread, so that bad input fails before any thread starts.
        # It binds to no loop until the portal enters it; a forked child builds a fresh one.
        self._unbound: AsyncSalescaling | None = factory()
        self._factory: Callable[[], AsyncSalescaling] = factory
        self._strict = strict
        self._call_timeout = call_timeout
        self._lock = threading.Lock()
        self._portal: Portal | None = None
        self._is_closed = False
        self._warned = False
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._bind(self, ())
        live_clients.add(self)  # forgets its portal in a forked child

    def _bind(self, root: Salescaling, steps: tuple[Callable[[AsyncSalescaling], AsyncSalescaling], ...]) -> None:
        """Set what a client and a view hold: the one constructor path of both.

        Nothing a view holds refers back to it (its resources run on the root and call through
        a requester holding the root and the steps), so a view made per request is freed as
        soon as it is dropped, without waiting for the garbage collector.
        """
        self._root = root
        self._steps = steps
        self._requester = _PortalRequester(root, steps)
        self._runner = root

    def _view(self, step: Callable[[AsyncSalescaling], AsyncSalescaling]) -> Salescaling:
        """A view deriving its async client by ``step``; the step runs now, so bad input raises here."""
        root = self._root
        step(root._unbound or root._get_portal().client)
        view = Salescaling.__new__(Salescaling)
        view._bind(root, (*self._steps, step))
        return view

    # -- views ----------------------------------------------------------------------------

    def with_key(self, api_key: str, *, scopes: Iterable[str] | None = None) -> Salescaling:
        """A blocking view using another key: same portal, pool and scheduler, its own budget.

        .. versionadded:: 0.2.0
        """
        return self._view(lambda client: client.with_key(api_key, scopes=scopes))

    def with_options(
        self,
        *,
        timeout: Timeouts | float | UnsetType | None = UNSET,
        retry: RetryConfig | None = None,
        priority: Priority | None = None,
        cache: bool | None = None,
    ) -> Salescaling:
        """A blocking view with other per-call options, sharing everything else (``UNSET``: keep).

        ``cache=False`` bypasses the response cache (``True`` turns it back on).

        .. versionadded:: 0.2.0
        """
        return self._view(
            lambda client: client.with_options(timeout=timeout, retry=retry, priority=priority, cache=cache)
        )

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> Salescaling:
        self._root._get_portal()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _closed(self) -> bool:
        return self._root._is_closed

    def close(self) -> None:
        """Close the session inside the loop, then stop the loop thread. Idempotent.

        A view does not own the portal: its ``close`` does nothing.
        """
        if self._root is not self:
            return
        with self._lock:
            self._is_closed = True
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
            orphans.append(self._portal)
        self._portal = None

    def _get_portal(self) -> Portal:
        root = self._root
        with root._lock:
            if root._is_closed:
                raise ClientClosedError("the client is closed")
            if root._portal is None:
                client, root._unbound = root._unbound or root._factory(), None
                root._portal = Portal(client)
                root._finalizer = weakref.finalize(root, warn_unclosed, root._portal)
            return root._portal

    @property
    def async_client(self) -> AsyncSalescaling:
        """The async client (or view) living on the portal's loop (use it only in code run by
        :meth:`run`)."""
        return self._requester.derive(self._get_portal().client)

    # -- running ----------------------------------------------------------------------------

    def run(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a coroutine function on this client's loop and return its result.

        ``call_timeout`` (``TimeoutError``), Ctrl-C or any other exception that ends the wait
        cancels the task on the loop before it propagates (see ``_portal``).
        """
        portal = self._get_portal()
        self._check_caller(portal)
        return portal.run(fn, args, kwargs, self._root._call_timeout)

    @property
    def call_timeout(self) -> float | None:
        """Seconds a blocking call may take before it is cancelled (shared with the views)."""
        return self._root._call_timeout

    @call_timeout.setter
    def call_timeout(self, value: float | None) -> None:
        self._root._call_timeout = value

    @property
    def strict(self) -> bool:
        """Whether a call from a thread running an event loop raises (shared with the views)."""
        return self._root._strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._root._strict = value

    def _check_caller(self, portal: Portal) -> None:
        if threading.get_ident() == portal.thread_id:
            raise SalescalingError(
                "a blocking Salescaling call was made from its own event-loop thread "
                "(it would deadlock); use the async client there"
            )
        if asyncio._get_running_loop() is None:  # the usual case, without raising RuntimeError
            return
        message = (
            "blocking Salescaling call from a thread running an event loop: that loop is "
            "blocked until the call returns; use AsyncSalescaling in async code"
        )
        root = self._root
        if root._strict:
            raise SalescalingError(message)
        if not root._warned:
            root._warned = True
            warnings.warn(message, SyncInAsyncContextWarning, stacklevel=_user_stacklevel())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        scope: str | None = None,
        priority: Priority | None = None,
    ) -> Envelope:
        """Blocking :meth:`AsyncSalescaling.request`: any endpoint through the full pipeline.

        .. versionchanged:: 0.2.0 Typed parameters and result.
        """
        portal = self._get_portal()
        self._check_caller(portal)
        # One crossing: the loop runs the async client's ``request`` itself (no wrapper coroutine).
        kwargs = {"params": params, "json": json, "scope": scope, "priority": priority}
        request = self._requester.derive(portal.client).request
        return portal.run(request, (method, path), kwargs, self._root._call_timeout)

    def statistics(self) -> KeyStatistics:
        """This key's :class:`KeyStatistics` (read on the loop thread).

        .. versionchanged:: 0.2.0 Typed result.
        """
        return self.run(_stats, self)

    def __repr__(self) -> str:
        root = self._root
        state = "closed" if root._is_closed else ("open" if root._portal else "unopened")
        view = " view" if root is not self else ""
        return f"<Salescaling{view} state={state}>"


class _PortalRequester:
    """Strictly private. The blocking resources' requester: the current async client's pipeline.

    Looked up at each call (on the loop thread), so a forked child's fresh client is used.
    It holds the root client and the view's steps, never the view itself (see ``_bind``).
    """

    def __init__(self, root: Salescaling, steps: tuple[Callable[[AsyncSalescaling], AsyncSalescaling], ...]) -> None:
        self._root = root
        self._steps = steps
        self._derived: tuple[AsyncSalescaling, AsyncSalescaling] | None = None

    def derive(self, base: AsyncSalescaling) -> AsyncSalescaling:
        """The view's async client over ``base`` (the portal's client), derived once per base."""
        derived = self._derived
        if derived is None or derived[0] is not base:
            client = base
            for step in self._steps:
                client = step(client)
            self._derived = derived = (base, client)
        return derived[1]

    async def call(self, endpoint: Endpoint[Any], **kwargs: Any) -> Envelope:
        return await self.derive(self._root._get_portal().client)._requester.call(endpoint, **kwargs)


async def _stats(client: Salescaling) -> KeyStatistics:
    return client.async_client.statistics()


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package (for warnings)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
