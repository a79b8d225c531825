"""The request pipeline of one client view. Strictly private.

One call: scope check -> (per attempt) scheduler grant -> transport send -> settle the slot
with the :class:`Outcome` -> follow redirects (``_urls`` rules) -> parse the response -> retry
decision (:func:`retry_delay`, pure) -> sleep on the injected clock.  Every attempt, retries
and redirects included, consumes one slot, so retries can never push a key over its limits.

Size: one module (~420 lines) so that every step of a call, slots, cache, retries and events
included, reads as one sequence.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ._backoff import retry_delay, retry_hints
from ._breaker import CircuitBreaker
from ._cache import Cache, lookup
from ._clock import Clock, LoopClock, sleep
from ._convert import Envelope
from ._drain import CallTracker
from ._endpoints import Endpoint
from ._error_building import Limited
from ._errors import (
    APIStatusError,
    ClientClosedError,
    ConfigError,
    RateLimitedError,
    ResponseValidationError,
    ScopeError,
    TransportError,
)
from ._events import Event, RequestAttempt, RetryScheduled
from ._options import Options
from ._request import FilePart, Outcome, RawRequest, RawResponse, check_json_body, encode_params, make_request
from ._responses import parse_response
from ._scheduler import PermitLike, SchedulerLike
from ._transport import Transport
from ._types import Params, Priority
from ._urls import MAX_REDIRECTS, REDIRECT_STATUSES, follow_redirect, resolve
from ._version import __version__

log = logging.getLogger("salescaling_async")
_USER_AGENT = f"salescaling-async/{__version__}"


class ClientState(enum.Enum):
    """Lifecycle of a client. .. versionadded:: 0.1.0"""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Core:
    """Strictly private. What every view of one client shares: pool, scheduler, state."""

    def __init__(
        self,
        transport: Transport,
        scheduler: SchedulerLike,
        clock: Clock,
        rng: random.Random,
        *,
        cache: Cache | None = None,
        on_event: Callable[[Event], None] | None = None,
        breaker: CircuitBreaker | None = None,
        own_clock: LoopClock | None = None,
    ) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.clock = clock
        self.rng = rng
        self.cache = cache
        # Shared by every view, so that a hook added later (integrations.otel) sees them all.
        self.on_event = on_event
        self.breaker = breaker or CircuitBreaker(None)
        self.calls = CallTracker()  # calls in progress, for drain()
        self.state = ClientState.UNOPENED
        self.loop: asyncio.AbstractEventLoop | None = None
        # The LoopClock the client made for itself (not one a caller passed, which may serve
        # other loops too): bound to the loop the client opens in, which is then its only one.
        self.own_clock = own_clock

    def ensure_open(self) -> None:
        """Open the client on first use in a loop; refuse a closed client or another loop."""
        if self.state is ClientState.CLOSED or self.calls.draining:
            raise ClientClosedError("the client is draining" if self.calls.draining else "the client is closed")
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
            self.state = ClientState.OPEN
            if self.own_clock is not None:
                self.own_clock.bind(loop)
        elif self.loop is not loop:
            raise ClientClosedError("the client is bound to the event loop it was first used in; create one per loop")


def settle(permit: PermitLike, outcome: Outcome, headers: Mapping[str, str] | None = None) -> None:
    """Settle a granted slot exactly once with how its attempt ended."""
    if outcome is Outcome.RECEIVED:
        permit.received(headers)
    else:
        permit.failed(sent=outcome is Outcome.AMBIGUOUS)


@functools.lru_cache(maxsize=1024)
def adhoc_endpoint(base_url: str, method: str, path: str, scope: str) -> tuple[Endpoint[Any], str]:
    """The endpoint and URL of a ``request(method, path)`` call, checked and joined once.

    Cached: services call the same few paths again and again, and joining and checking the
    URL is pure.  Refusals raise (and exceptions are never cached).
    """
    method = method.upper()
    if not method.isalpha():
        raise ConfigError(f"invalid method {method!r}")
    url = resolve(base_url, path)
    return Endpoint(f"{method} {path}", method, "", scope, object), url


@attrs.frozen
class Pipeline:
    """Strictly private. One view's way to the API: its key, scopes and options on a shared core.

    Implements the resources' ``Requester`` protocol (:meth:`call`).
    """

    core: Core
    api_key: str = attrs.field(repr=False)
    key_id: str
    base_url: str
    scopes: frozenset[str] | None
    options: Options
    headers: Mapping[str, str] = attrs.field(init=False, repr=False, eq=False)
    """The request headers of this view, built once, read-only (the key included, hence no
    repr): in the transport's own form when it has one (``prepare_headers``)."""

    def __attrs_post_init__(self) -> None:
        headers = {"x-api-key": self.api_key, "accept": "application/json", "user-agent": _USER_AGENT}
        # Looked up on the class: a test double answering any attribute (a mock) has none.
        prepare = getattr(type(self.core.transport), "prepare_headers", None)
        prepared = None if prepare is None else prepare(headers)
        object.__setattr__(self, "headers", prepared if isinstance(prepared, Mapping) else MappingProxyType(headers))

    def for_key(self, api_key: str, key_id: str, scopes: frozenset[str] | None) -> Pipeline:
        """The same pipeline with another key (checked by the caller): ``with_key()`` views,
        which a multi-tenant service may make per request, so not through ``attrs.evolve``."""
        return Pipeline(
            core=self.core, api_key=api_key, key_id=key_id, base_url=self.base_url, scopes=scopes, options=self.options
        )

    def call(
        self,
        endpoint: Endpoint[Any],
        *,
        path: Mapping[str, str] | None = None,
        params: Params | None = None,
        query: list[tuple[str, str]] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
        on_response: Callable[[RawResponse, float], None] | None = None,
    ) -> Coroutine[Any, Any, Envelope]:
        """Call ``endpoint`` (path placeholders filled from ``path``) through the pipeline.

        The :meth:`send` coroutine itself, like :meth:`request` (a coroutine less per call).
        ``query``: the query already encoded, sent instead of ``params`` (see ``Requester``).
        """
        url = self.base_url + (endpoint.render(**path) if path else endpoint.path)
        return self.send(
            endpoint,
            url,
            params=params,
            query=query,
            json=json,
            form=form,
            files=files,
            priority=priority,
            on_response=on_response,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        scope: str | None = None,
        priority: Priority | None = None,
    ) -> Coroutine[Any, Any, Envelope]:
        """``client.request()``: any method and path of this client's origin.

        The :meth:`send` coroutine itself (no coroutine of its own around it); a path or
        method it refuses raises here, when the caller's ``await`` expression is evaluated.
        """
        endpoint, url = adhoc_endpoint(self.base_url, method, path, scope or "")
        return self.send(endpoint, url, params=params, json=json, priority=priority)

    async def send(
        self,
        endpoint: Endpoint[Any],
        url: str,
        *,
        params: Params | None = None,
        query: list[tuple[str, str]] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
        on_response: Callable[[RawResponse, float], None] | None = None,
    ) -> Envelope:
        """Send to ``url`` (already checked to be of this client's origin), retrying as allowed.

        ``on_response`` gets the final response once it parsed, and the seconds the whole
        call took on the client's clock (the raw-response views use it).  A cache hit gets a
        body-less 200 with the entry's stored headers (``Envelope.from_cache`` tells it).
        """
        calls = self.core.calls  # counted for drain() (CallTracker.track, one coroutine less)
        calls.active += 1
        try:
            if self.scopes is not None and endpoint.scope and endpoint.scope not in self.scopes:
                raise ScopeError(endpoint.scope, endpoint.name)
            core = self.core
            if core.state is not ClientState.OPEN or core.loop is not asyncio.get_running_loop() or calls.draining:
                core.ensure_open()  # opens, or refuses a closed or draining client or another loop
            opts = self.options
            raw = make_request(
                endpoint.method,
                url,
                self.headers,
                query if query is not None else encode_params(params) if params else [],
                None if json is None else check_json_body(json),
                form,
                files,
                opts.timeouts,
            )
            started = core.clock.now()
            timeout = opts.retry.timeout
            deadline = None if timeout is None else started + timeout
            if core.cache is None:  # the common case: no lookup, no settle task
                return await self._retrying(raw, endpoint, priority, deadline, started, on_response)
            slot = await lookup(core.cache, self.api_key, self.base_url, raw, read=opts.use_cache)
            if slot.envelope is not None:  # a cache hit: nothing sent, no budget spent
                if on_response is not None:  # the raw views: the URL asked for, the stored headers
                    hit = RawResponse(200, tuple(slot.envelope.headers.items()), b"", url)
                    on_response(hit, core.clock.now() - started)
                return slot.envelope
            envelope: Envelope | None = None
            try:
                envelope = await self._retrying(raw, endpoint, priority, deadline, started, on_response)
            finally:
                # However the call ends (an error, a bad body, cancelled), a write invalidates again:
                # the server may have applied it.  Shielded, so a cancellation cannot skip it.
                await asyncio.shield(slot.settle(envelope))
            return envelope
        finally:
            calls.leave()

    async def _retrying(
        self,
        raw: RawRequest,
        endpoint: Endpoint[Any],
        priority: Priority | None,
        deadline: float | None,
        started: float,
        on_response: Callable[[RawResponse, float], None] | None,
    ) -> Envelope:
        """Send ``raw`` until it succeeds or :func:`retry_delay` says stop (then raise)."""
        core, opts, url = self.core, self.options, raw.url
        priority = priority or opts.priority
        scheduler, transport = core.scheduler, core.transport
        attempt = 0
        while True:
            attempt += 1
            try:
                # The common case inlined (two coroutines less than _send_keyed): nobody
                # watches the attempt (no breaker, no event listener) and a slot is free now.
                quiet = core.breaker.config is None and core.on_event is None
                permit = scheduler.try_acquire(self.key_id, priority=priority) if quiet else None
                if permit is not None:
                    try:
                        response = await transport.send(raw)
                    except BaseException as exc:
                        self._unanswered(permit, exc)
                        raise
                    limited = self._answered(raw, permit, response)
                else:
                    response, limited = await self._send_keyed(raw, priority, deadline, endpoint, attempt)
                if response.status in REDIRECT_STATUSES:
                    response, limited = await self._redirects(raw, response, priority, deadline, endpoint, attempt)
                envelope = parse_response(
                    response, endpoint, wall_now=time.time(), secret=self.api_key, limited=limited
                )
                if on_response is not None:
                    on_response(response, core.clock.now() - started)
                return envelope
            except (APIStatusError, TransportError) as error:
                # Only a 429 needs the key's pause (the scheduler set it when the 429 came in).
                paused = error.paused_for if isinstance(error, RateLimitedError) else None
                delay = retry_delay(
                    error,
                    method=raw.method,
                    replayable=raw.replayable,
                    attempt=attempt,
                    config=opts.retry,
                    rng=core.rng,
                    now=core.clock.now(),
                    deadline=deadline,
                    pause=paused or 0.0,
                )
                if delay is None:
                    raise
                reason = type(error).__name__
            self._emit(RetryScheduled(raw.method, url, attempt, delay, reason))
            log.debug("retrying %s %s in %.3fs after %s", raw.method, url, delay, reason)
            if delay > 0:
                await sleep(core.clock, delay)

    async def _redirects(
        self,
        raw: RawRequest,
        response: RawResponse,
        priority: Priority,
        deadline: float | None,
        endpoint: Endpoint[Any],
        attempt: int,
    ) -> tuple[RawResponse, Limited | None]:
        """Follow the redirect ``response`` of the first hop (:func:`follow_redirect` decides).

        Every hop counts toward :data:`MAX_REDIRECTS` and its answer goes through the same
        loop, so a redirect answered by another origin is followed or refused like any other.
        Hops with the key take a slot of its budget; once a hop left the origin the key is
        gone for good, and so are the slots (another origin's answers are not the key's).
        """
        keyed = True
        limited: Limited | None = None
        for _ in range(MAX_REDIRECTS):
            raw, cross_origin = follow_redirect(raw, response)
            keyed = keyed and not cross_origin
            if keyed:
                response, limited = await self._send_keyed(raw, priority, deadline, endpoint, attempt)
            else:
                response, limited = await self.core.transport.send(raw), None
            if response.status not in REDIRECT_STATUSES:
                return response, limited
        raise ResponseValidationError("too many redirects", raw="", status_code=response.status)

    async def _send_keyed(
        self, raw: RawRequest, priority: Priority, deadline: float | None, endpoint: Endpoint[Any], attempt: int
    ) -> tuple[RawResponse, Limited | None]:
        """Send one hop with the key, in a slot of its budget settled with the hop's outcome."""
        core = self.core
        breaker, clock = core.breaker, core.clock
        # The clock is read only for whom needs it (the breaker, event listeners): the
        # scheduler reads its own, and a quiet client reads it once per call, not per step.
        watched = breaker.config is not None
        timed = core.on_event is not None
        queued = clock.now() if watched or timed else 0.0
        if watched:
            breaker.check(queued)  # CircuitOpenError: fail fast, nothing spent
        try:
            permit = await core.scheduler.acquire(self.key_id, priority=priority, deadline=deadline)
        except BaseException:
            breaker.abandon()
            raise
        granted = clock.now() if timed else 0.0
        try:
            response = await core.transport.send(raw)
        except BaseException as exc:
            self._unanswered(permit, exc)
            if isinstance(exc, TransportError):
                if watched:
                    breaker.record(clock.now(), None)
                if timed:
                    self._report(raw, endpoint, attempt, queued, granted, None, type(exc).__name__)
            else:  # cancelled or unexpected while sending
                breaker.abandon()
            raise
        limited = self._answered(raw, permit, response)
        status = response.status
        if watched:
            breaker.record(clock.now(), status)
        if timed:
            self._report(raw, endpoint, attempt, queued, granted, status, None)
        return response, limited

    def _answered(self, raw: RawRequest, permit: PermitLike, response: RawResponse) -> Limited | None:
        """Settle the slot of a hop that got ``response`` (a 429 also pauses the key)."""
        if log.isEnabledFor(logging.DEBUG):  # (a call less per response when off)
            log.debug("%s %s -> %d", raw.method, raw.url, response.status)
        if response.status == 429:
            return self._rate_limited(permit, response)
        permit.received(response.header_map)  # settle(permit, Outcome.RECEIVED, ...), inlined
        return None

    @staticmethod
    def _unanswered(permit: PermitLike, error: BaseException) -> None:
        """Settle the slot of a hop whose send raised ``error``: a transport error says
        whether anything was sent; cancelled or unexpected while sending, it may count."""
        sent = error.sent if isinstance(error, TransportError) else True
        settle(permit, Outcome.of_failure(sent=sent))

    def _rate_limited(self, permit: PermitLike, response: RawResponse) -> Limited:
        """Settle a 429's slot and pause the key in one step, before anything else dispatches.

        The hints are parsed once and carried on the error.  A hint past ``max_retry_after``
        makes the call raise at once (:func:`retry_delay`), and the key is paused no longer
        than the caller would wait, so one absurd hint cannot wedge it.  Without hints the
        scheduler backs off exponentially with jitter after the :class:`RetryConfig`.
        """
        retry = self.options.retry
        hints = retry_hints(response.headers, time.time())
        capped = {name: min(value, retry.max_retry_after) for name, value in hints.items()}
        return Limited(hints, permit.rate_limited(response.header_map, capped, retry))

    def _report(
        self,
        raw: RawRequest,
        endpoint: Endpoint[Any],
        attempt: int,
        queued: float,
        granted: float,
        status: int | None,
        error: str | None,
    ) -> None:
        """Emit a :class:`RequestAttempt` (called only when someone listened as the attempt began)."""
        waited, took = granted - queued, self.core.clock.now() - granted
        event = RequestAttempt(raw.method, raw.url, endpoint.path, self.key_id, attempt, waited, took, status, error)
        self._emit(event)

    def _emit(self, event: Event) -> None:
        on_event = self.core.on_event
        if on_event is not None:
            try:
                on_event(event)
            except Exception:  # a user hook must never break a request
                log.exception("salescaling event hook failed")
