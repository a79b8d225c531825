"""``AsyncSalescaling``: configuration, lifecycle and views of one client.

The request pipeline itself lives in ``_pipeline`` (one :class:`Pipeline` per view); URL
rules in ``_urls``; response parsing in ``_responses``; the retry decision in ``_backoff``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ._breaker import BreakerConfig, CircuitBreaker
from ._cache import Cache
from ._clock import Clock, LoopClock
from ._config import PoolLimits, RateLimits, ResponseLimits, RetryConfig, Timeouts
from ._convert import Envelope
from ._env import env_budget, env_flag, env_retry
from ._events import Event
from ._options import Options, check_api_key, check_scopes, to_timeouts
from ._pipeline import ClientState, Core, Pipeline
from ._resources import ResourceGroups
from ._scheduler import KeyStatistics, Scheduler, SchedulerLike, key_id
from ._stores import BudgetStore
from ._transport import AiohttpTransport, Transport
from ._types import UNSET, Params, Priority, UnsetType
from ._urls import DEFAULT_BASE_URL, check_base_url
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "AsyncSalescaling", "ClientState", "__version__"]


class AsyncSalescaling(ResourceGroups):
    """The asyncio client of the Salescaling API.

    One client owns one aiohttp connection pool and one rate scheduler; any number of tasks
    may share it.  Views made by :meth:`with_key` and :meth:`with_options` share both.

    Args:
        api_key: The key (default: ``SALESCALING_API_KEY``).  Never logged or shown.
        base_url: Default ``SALESCALING_BASE_URL`` or ``https://api.salescaling.com/api/v1/``.
        timeout: Per-attempt :class:`Timeouts`, one number for the total, or ``None`` to
            disable every timeout (not recommended).  Default: finite connect/read/total.
        retry: The :class:`RetryConfig`.
        limits: The key's :class:`RateLimits` (the published three windows by default).
        pool: Connection pool size.
        response_limits: Bounds on responses (:class:`ResponseLimits`, default 16 MiB bodies).
        cache: A response cache for GETs (:class:`MemoryCache`, :class:`RedisCache`); writes
            through the client invalidate their resource's entries.  ``.. versionadded:: 0.2.0``
        scopes: The key's scopes, if known: calls needing another scope raise
            :class:`ScopeError` before spending any budget.
        priority: Default lane of this client's requests.
        allow_insecure: Allow plain ``http://`` to non-loopback hosts.
        on_event: Hook called with every throttle wait, 429 and retry event.
        budget: Where each key's rate log lives: :class:`RedisBudget` for fleets of processes
            and machines using one key; the default (:class:`LocalBudget`) keeps it in this process.
        max_queue: At most this many requests queued per key; more raise
            :class:`QueueFullError` at once (``None``: no bound).  ``.. versionadded:: 0.2.0``
        interactive_reserve: The share of each window that bulk requests may not take while
            interactive ones keep coming (lent to bulk after a second without any; ``0``
            switches it off).  ``.. versionadded:: 0.2.0``
        bulk_pacing: Pace bulk requests to the binding window's rate while interactive ones
            come, so the reserve is refilled steadily (``False``: bulk bursts to the ceiling).
            ``.. versionadded:: 0.2.0``
        breaker: Fail fast with :class:`CircuitOpenError` after repeated upstream failures
            (a :class:`BreakerConfig`; ``None``, the default, disables it).
        transport: A custom transport (tests: :class:`salescaling_async.testing.FakeTransport`).
        clock: A custom clock (tests: :class:`salescaling_async.testing.FakeClock`).
        seed: Seed of the backoff jitter (reproducible tests).

    Unset arguments also come from the environment: ``SALESCALING_REDIS_URL`` (``budget``),
    ``SALESCALING_DEADLINE`` (the ``retry`` timeout, the queue deadline) and
    ``SALESCALING_ALLOW_INSECURE``.

    .. versionadded:: 0.1.0
    """

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
    ) -> None:
        budget = budget if budget is not None else env_budget()  # SALESCALING_REDIS_URL
        retry = retry or env_retry()  # SALESCALING_DEADLINE
        allow_insecure = allow_insecure or env_flag("SALESCALING_ALLOW_INSECURE")
        key = check_api_key(api_key)
        base = check_base_url(base_url, allow_insecure=allow_insecure)
        checked_scopes = check_scopes(scopes)
        own_clock: LoopClock | None = None
        if clock is None:  # the client's own, bound to the loop it opens in (see LoopClock)
            clock = own_clock = LoopClock()
        scheduler: SchedulerLike = Scheduler(
            limits,
            clock=clock,
            on_event=on_event,
            budget=budget,
            seed=seed,
            max_queue=max_queue,
            interactive_reserve=interactive_reserve,
            bulk_pacing=bulk_pacing,
        )
        transport = transport or AiohttpTransport(pool, response_limits=response_limits)
        core = Core(
            transport,
            scheduler,
            clock,
            random.Random(seed),
            cache=cache,
            on_event=on_event,
            breaker=CircuitBreaker(breaker),
            own_clock=own_clock,
        )
        options = Options(to_timeouts(timeout), retry or RetryConfig(), priority)
        pipeline = Pipeline(core, key, key_id(key), base, checked_scopes, options)
        self._bind(pipeline, owner=True)

    def _bind(self, pipeline: Pipeline, *, owner: bool) -> None:
        """Set every attribute of a client or a view: the one constructor path of both."""
        self._pipeline = pipeline
        self._requester = pipeline
        self._owner = owner
        self.base_url = pipeline.base_url
        self.scopes = pipeline.scopes

    @classmethod
    def _view_of(cls, pipeline: Pipeline) -> AsyncSalescaling:
        """A view over ``pipeline``: it shares the core and never closes it."""
        view = cls.__new__(cls)
        view._bind(pipeline, owner=False)
        return view

    # -- views ----------------------------------------------------------------------------

    def with_key(self, api_key: str, *, scopes: Iterable[str] | None = None) -> AsyncSalescaling:
        """A view using another key: same pool and scheduler, its own rate budget.

        For multi-tenant services; idle keys' budgets are evicted automatically.
        """
        key = check_api_key(api_key)
        return self._view_of(self._pipeline.for_key(key, key_id(key), check_scopes(scopes)))

    def with_options(
        self,
        *,
        timeout: Timeouts | float | UnsetType | None = UNSET,
        retry: RetryConfig | None = None,
        priority: Priority | None = None,
        cache: bool | None = None,
    ) -> AsyncSalescaling:
        """A view with other per-call options, sharing everything else (``UNSET``: keep).

        ``cache=False`` bypasses the response cache (``True`` turns it back on).
        """
        opts = self._pipeline.options
        options = Options(
            opts.timeouts if timeout is UNSET else to_timeouts(timeout),
            retry or opts.retry,
            priority or opts.priority,
            opts.use_cache if cache is None else cache,
        )
        return self._view_of(attrs.evolve(self._pipeline, options=options))

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        return self._pipeline.core.state

    async def __aenter__(self) -> AsyncSalescaling:
        self._pipeline.core.ensure_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool.  Views do not own it: their ``aclose`` does nothing."""
        core = self._pipeline.core
        if not self._owner or core.state is ClientState.CLOSED:
            return
        core.state = ClientState.CLOSED
        try:
            await core.transport.aclose()
        finally:
            await core.scheduler.aclose()

    async def drain(self, timeout: float | None = None) -> bool:
        """Refuse new calls, let the calls in progress finish, then close the client.

        Args:
            timeout: Seconds to wait for the calls in progress (``None``: no limit); what is
                still queued or in flight afterwards ends with :class:`ClientClosedError`.

        Returns:
            Whether every call finished within ``timeout``.

        .. versionadded:: 0.2.0
        """
        core = self._pipeline.core
        if not self._owner or core.state is ClientState.CLOSED:
            return True
        core.calls.draining = True
        finished = await core.calls.wait_idle(core.clock, timeout)
        await self.aclose()
        return finished

    def statistics(self) -> KeyStatistics:
        """A frozen snapshot of this key's scheduling state."""
        return self._pipeline.core.scheduler.statistics(self._pipeline.key_id)

    @property
    def scheduler(self) -> SchedulerLike:
        """The scheduler shared by every view of this client."""
        return self._pipeline.core.scheduler

    @property
    def _core(self) -> Core:
        return self._pipeline.core

    @property
    def _key_id(self) -> str:
        return self._pipeline.key_id

    def __repr__(self) -> str:
        return (
            f"<AsyncSalescaling base_url={self.base_url!r} key=#{self._pipeline.key_id} "
            f"state={self._pipeline.core.state.value}>"
        )

    # -- requests -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        scope: str | None = None,
        priority: Priority | None = None,
    ) -> Envelope:
        """Call any endpoint through the full pipeline (scheduler, retries, errors).

        Args:
            method: HTTP method.
            path: Relative to the base URL (``"contacts"``), or an absolute URL under the
                base URL; anything resolving outside it raises :class:`ConfigError`.
            params: Query parameters.
            json: JSON body.
            scope: The scope the endpoint needs, checked against ``scopes=``.
            priority: Lane for this request.

        Returns:
            The unwrapped envelope (``data``, ``count``, ``status_code``, ``error``).
        """
        return await self._pipeline.request(method, path, params=params, json=json, scope=scope, priority=priority)
