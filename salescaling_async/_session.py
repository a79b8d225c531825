"""``AsyncSalescaling``: configuration, lifecycle and the request pipeline.

Pipeline of one call: scope check -> (per attempt) scheduler grant -> transport send ->
settle the slot with the outcome -> map the status -> retry decision.  Every attempt,
retries included, consumes one slot, so retries can never push a key over its limits.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from ._backoff import compute_delay, is_retryable, retry_hints
from ._clock import Clock, LoopClock
from ._config import PoolLimits, RateLimits, RetryConfig, Timeouts
from ._convert import Envelope, unwrap_envelope
from ._endpoints import SCOPES, Endpoint
from ._errors import (
    APIStatusError,
    ClientClosedError,
    ConfigError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseValidationError,
    SalescalingError,
    ScopeError,
    TransportError,
    status_error_class,
)
from ._events import Event, RetryScheduled
from ._request import FilePart, RawRequest, RawResponse
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
from ._scheduler import KeyStatistics, Scheduler, SchedulerLike, key_id
from ._stores import BudgetStore
from ._transport import AiohttpTransport, Transport
from ._types import JSON, UNSET, Params, Priority, UnsetType

log = logging.getLogger("salescaling_async")

DEFAULT_BASE_URL = "https://api.salescaling.com/api/v1/"
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
__version__ = "0.1.0"


class ClientState(enum.Enum):
    """Lifecycle of a client. .. versionadded:: 0.1.0"""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


def check_api_key(api_key: str | None) -> str:
    """Validate a key before anything is sent (no header injection, no empty keys)."""
    if api_key is None:
        api_key = os.environ.get("SALESCALING_API_KEY")
    if api_key is None:
        raise ConfigError("no API key: pass api_key= or set SALESCALING_API_KEY")
    if not isinstance(api_key, str) or not api_key:
        raise ConfigError("the API key must be a non-empty string")
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in api_key):
        raise ConfigError("the API key contains whitespace, control or non-ASCII characters")
    return api_key


def check_base_url(base_url: str | None, *, allow_insecure: bool) -> str:
    """Validate the base URL: https, or http only to a loopback host unless allowed."""
    url = base_url or os.environ.get("SALESCALING_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("base_url must not contain credentials, a query or a fragment")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not allow_insecure:
        raise ConfigError(f"refusing plain http to {parts.hostname!r}; pass allow_insecure=True")
    return url if url.endswith("/") else url + "/"


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return (p.scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme))


@attrs.frozen
class _Options:
    """Strictly private. Per-view options (``with_options``)."""

    timeouts: Timeouts
    retry: RetryConfig
    priority: Priority


@attrs.frozen
class _Limited:
    """Strictly private. A 429's hints (parsed once) and the pause the scheduler applied."""

    hints: dict[str | None, float]
    pause: float


class _Core:
    """Strictly private. What every view of one client shares: pool, scheduler, state."""

    def __init__(self, transport: Transport, scheduler: SchedulerLike, clock: Clock, rng: random.Random) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.clock = clock
        self.rng = rng
        self.state = ClientState.UNOPENED
        self.loop: asyncio.AbstractEventLoop | None = None

    def check_usable(self) -> None:
        if self.state is ClientState.CLOSED:
            raise ClientClosedError("the client is closed")
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
            self.state = ClientState.OPEN
        elif self.loop is not loop:
            raise ClientClosedError(
                "the client is bound to the event loop it was first used in; create one per loop"
            )


class AsyncSalescaling:
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
        scopes: The key's scopes, if known: calls needing another scope raise
            :class:`ScopeError` before spending any budget.
        priority: Default lane of this client's requests.
        allow_insecure: Allow plain ``http://`` to non-loopback hosts.
        on_event: Hook called with every throttle wait, 429 and retry event.
        budget: Where the key's budget lives (a :class:`BudgetStore`, e.g. :class:`RedisBudget`
            for fleets of processes using one key); the default keeps it in this process.
        transport: A custom transport (tests: :class:`salescaling_async.testing.FakeTransport`).
        clock: A custom clock (tests: :class:`salescaling_async.testing.FakeClock`).
        seed: Seed of the backoff jitter (reproducible tests).

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
        scopes: Iterable[str] | None = None,
        priority: Priority = Priority.INTERACTIVE,
        allow_insecure: bool = False,
        on_event: Callable[[Event], None] | None = None,
        budget: BudgetStore | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self._api_key = check_api_key(api_key)
        self._key_id = key_id(self._api_key)
        self.base_url = check_base_url(base_url, allow_insecure=allow_insecure)
        self.scopes = _check_scopes(scopes)
        clock = clock or LoopClock()
        scheduler: SchedulerLike = Scheduler(limits, clock=clock, on_event=on_event, budget=budget, seed=seed)
        self._core = _Core(transport or AiohttpTransport(pool), scheduler, clock, random.Random(seed))
        self._on_event = on_event
        self._owner = True
        self._options = _Options(_timeouts(timeout), retry or RetryConfig(), priority)
        self._init_resources()

    def _init_resources(self) -> None:
        self.calls = Calls(self)
        self.contacts = Contacts(self)
        self.companies = Companies(self)
        self.meetings = Meetings(self)
        self.opportunities = Opportunities(self)
        self.calendars = Calendars(self)
        self.calendar_events = CalendarEvents(self)
        self.users = Users(self)
        self.voice_agents = VoiceAgents(self)

    # -- views ----------------------------------------------------------------------------

    def _view(self, **changes: Any) -> AsyncSalescaling:
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view.__dict__.update(changes)
        view._owner = False
        view._init_resources()
        return view

    def with_key(self, api_key: str, *, scopes: Iterable[str] | None = None) -> AsyncSalescaling:
        """A view using another key: same pool and scheduler, its own rate budget.

        For multi-tenant services; idle keys' budgets are evicted automatically.
        """
        key = check_api_key(api_key)
        return self._view(_api_key=key, _key_id=key_id(key), scopes=_check_scopes(scopes))

    def with_options(
        self,
        *,
        timeout: Timeouts | float | UnsetType | None = UNSET,
        retry: RetryConfig | None = None,
        priority: Priority | None = None,
    ) -> AsyncSalescaling:
        """A view with other per-call options, sharing everything else (``UNSET``: keep)."""
        opts = self._options
        return self._view(
            _options=_Options(
                opts.timeouts if timeout is UNSET else _timeouts(timeout),
                retry or opts.retry,
                priority or opts.priority,
            )
        )

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        return self._core.state

    async def __aenter__(self) -> AsyncSalescaling:
        self._core.check_usable()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool.  Views do not own it: their ``aclose`` does nothing."""
        if not self._owner or self._core.state is ClientState.CLOSED:
            return
        self._core.state = ClientState.CLOSED
        try:
            await self._core.transport.aclose()
        finally:
            await self._core.scheduler.aclose()

    def statistics(self) -> KeyStatistics:
        """A frozen snapshot of this key's scheduling state."""
        return self._core.scheduler.statistics(self._key_id)

    @property
    def scheduler(self) -> SchedulerLike:
        """The scheduler shared by every view of this client."""
        return self._core.scheduler

    def __repr__(self) -> str:
        return (
            f"<AsyncSalescaling base_url={self.base_url!r} key=#{self._key_id} "
            f"state={self._core.state.value}>"
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
            path: Relative to the base URL (``"contacts"``), or an absolute URL of the
                same origin.
            params: Query parameters.
            json: JSON body.
            scope: The scope the endpoint needs, checked against ``scopes=``.
            priority: Lane for this request.

        Returns:
            The unwrapped envelope (``data``, ``count``, ``status_code``, ``error``).
        """
        method = method.upper()
        if not method.isalpha():
            raise ConfigError(f"invalid method {method!r}")
        url = urljoin(self.base_url, path.lstrip("/")) if "://" not in path else path
        if _origin(url) != _origin(self.base_url):
            raise ConfigError("request() only sends the key to the client's own origin")
        endpoint = Endpoint(f"{method} {path}", method, "", scope or "", None)
        return await self._send(endpoint, url, params=params, json=json, priority=priority)

    async def _call(
        self,
        endpoint: Endpoint,
        *,
        path: Mapping[str, str] | None = None,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
    ) -> Envelope:
        url = self.base_url + endpoint.render(**(path or {}))
        return await self._send(
            endpoint, url, params=params, json=json, form=form, files=files, priority=priority
        )

    async def _send(
        self,
        endpoint: Endpoint,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
    ) -> Envelope:
        if self.scopes is not None and endpoint.scope and endpoint.scope not in self.scopes:
            raise ScopeError(endpoint.scope, endpoint.name)
        core = self._core
        core.check_usable()
        opts = self._options
        raw = RawRequest(
            method=endpoint.method,
            url=url,
            headers=self._headers(),
            params=_encode_params(params),
            json=json,
            form=form,
            files=files,
            timeouts=opts.timeouts,
        )
        started = core.clock.now()
        deadline = started + opts.retry.timeout if opts.retry.timeout is not None else None
        attempt = 0
        while True:
            attempt += 1
            try:
                response, limited = await self._attempt(raw, priority or opts.priority, deadline)
                return self._parse(response, endpoint, limited)
            except (APIStatusError, TransportError) as error:
                delay = self._retry_delay(error, raw, attempt, deadline)
                if delay is None:
                    raise
                reason = type(error).__name__
            self._emit(RetryScheduled(raw.method, url, attempt, delay, reason))
            log.debug("retrying %s %s in %.3fs after %s", raw.method, url, delay, reason)
            if delay > 0:
                await _sleep(core.clock, delay)

    async def _attempt(
        self, raw: RawRequest, priority: Priority, deadline: float | None
    ) -> tuple[RawResponse, _Limited | None]:
        core = self._core
        limited: _Limited | None = None
        for _ in range(_MAX_REDIRECTS + 1):
            permit = await core.scheduler.acquire(self._key_id, priority=priority, deadline=deadline)
            try:
                response = await core.transport.send(raw)
            except TransportError as exc:
                permit.failed(sent=exc.sent)
                raise
            except BaseException:  # cancelled or unexpected while sending: it may count
                permit.failed(sent=True)
                raise
            if response.status == 429:  # hints parsed once; settle and pause in one step
                hints = retry_hints(response.headers, time.time())
                limited = _Limited(hints, permit.rate_limited(response.header_map, hints, self._options.retry))
            else:
                permit.received(response.header_map)
            log.debug("%s %s -> %d", raw.method, raw.url, response.status)
            if response.status not in _REDIRECTS:
                return response, limited
            raw, cross_origin = self._follow(raw, response)
            if cross_origin:  # never with the key, never through this key's budget
                return await core.transport.send(raw), None
        raise ResponseValidationError("too many redirects", raw="", status_code=response.status)

    def _follow(self, raw: RawRequest, response: RawResponse) -> tuple[RawRequest, bool]:
        location = response.header_map.get("location")
        if not location:
            raise ResponseValidationError("redirect without Location", raw="", status_code=response.status)
        target = urljoin(raw.url, location)
        cross = _origin(target) != _origin(raw.url)
        headers = {k: v for k, v in raw.headers.items() if not (cross and k.lower() == "x-api-key")}
        method = "GET" if response.status == 303 else raw.method
        return attrs.evolve(raw, url=target, headers=headers, method=method, params=[]), cross

    def _retry_delay(
        self, error: SalescalingError, raw: RawRequest, attempt: int, deadline: float | None
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to raise ``error`` now."""
        retry = self._options.retry
        if attempt >= retry.attempts or not raw.replayable or not is_retryable(error, raw.method):
            return None
        now = self._core.clock.now()
        if isinstance(error, RateLimitedError):
            # The scheduler paused the whole key; the next acquire() waits for the pause.
            wait = error.paused_for or 0.0
            if (error.retry_after or 0) > retry.max_retry_after or (
                deadline is not None and now + wait > deadline
            ):
                return None
            return 0.0
        hints = error.retry_hints if isinstance(error, APIStatusError) else {}
        delay = max(hints.values()) if hints else compute_delay(attempt, retry, self._core.rng)
        if delay > retry.max_retry_after or (deadline is not None and now + delay > deadline):
            return None
        return delay

    def _parse(self, response: RawResponse, endpoint: Endpoint, limited: _Limited | None = None) -> Envelope:
        text = response.body.decode("utf-8", errors="replace")
        payload: JSON = None
        is_json = True
        if text.strip():
            try:
                payload = json.loads(text)
            except ValueError:
                is_json = False
        if response.status >= 400:
            raise self._status_error(response, endpoint, payload if is_json else text, limited)
        if not is_json:
            raise ResponseValidationError("response is not JSON", raw=text, status_code=response.status)
        headers = response.header_map
        if response.status == 204 or payload is None:
            return Envelope(status_code=response.status, count=None, error=None, data=None, headers=headers)
        return unwrap_envelope(payload, raw=text, status=response.status, headers=headers)

    def _status_error(
        self, response: RawResponse, endpoint: Endpoint, body: Any, limited: _Limited | None = None
    ) -> APIStatusError:
        status = response.status
        message = _message(body) or f"HTTP {status}"
        cls = status_error_class(status)
        headers = response.header_map
        error = cls(
            message,
            status_code=status,
            method=endpoint.method,
            url=response.url,
            body=body,
            request_id=headers.get("x-request-id"),
        )
        hints = limited.hints if limited is not None else retry_hints(response.headers, time.time())
        error.retry_hints = hints
        if isinstance(error, RateLimitedError):
            error.retry_after = max(hints.values()) if hints else None
            error.paused_for = limited.pause if limited is not None else None
        if isinstance(error, PermissionDeniedError) and endpoint.scope:
            error.scope = endpoint.scope
            error.args = (f"{error.args[0]} (this endpoint needs the scope {endpoint.scope!r})",)
        return error

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key,
            "accept": "application/json",
            "user-agent": f"salescaling-async/{__version__}",
        }

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a user hook must never break a request
                log.exception("salescaling event hook failed")


async def _sleep(clock: Clock, delay: float) -> None:
    """Sleep on the injected clock (so a FakeClock drives retries too)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    handle = clock.call_at(clock.now() + delay, wake)
    try:
        await future
    finally:
        handle.cancel()


def _timeouts(value: Timeouts | float | UnsetType | None) -> Timeouts:
    if value is UNSET:
        return Timeouts()
    if value is None:
        return Timeouts(connect=None, read=None, total=None)
    if isinstance(value, Timeouts):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Timeouts(total=float(value))
    raise ConfigError(f"timeout must be Timeouts or seconds, got {value!r}")


def _check_scopes(scopes: Iterable[str] | None) -> frozenset[str] | None:
    if scopes is None:
        return None
    if isinstance(scopes, str):
        raise ConfigError("scopes must be a collection of scope names, not one string")
    found = frozenset(scopes)
    unknown = found - SCOPES
    if unknown:
        raise ConfigError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
    return found


def _encode_params(params: Params | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            if not isinstance(v, (str, int, float)):
                raise ConfigError(f"query parameter {name!r} has an unsupported value {v!r}")
            out.append((name, str(v)))
    return out


def _message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, list):
                return "; ".join(map(str, value))
            if isinstance(value, str) and value:
                return value
        return None
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return None
