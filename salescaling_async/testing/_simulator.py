"""A local simulator of the Salescaling API on aiohttp.web.

It serves every endpoint the SDK wraps under ``/api/v1/``, with in-memory seeded records,
the real envelope, page/limit pagination and the documented filters; authenticates keys with
scopes and expiry (401 before anything counts); throttles exactly like a NestJS throttler
(see ``_throttler``); and injects faults on demand.  ``/_simulator/stats`` and
``/_simulator/reset`` are never authenticated or throttled.

Each concern is one aiohttp middleware (outermost first: draw the faults, ``latency``,
authentication, ``reset_before``, the throttler, the faults answered instead of the call, the
faults that spoil its answer, the throttler's headers); they pass what they learn inward in a
per-request ``_Visit``.  The module is longer than most because the middlewares and the
endpoint handlers share one state (keys, store, throttler, counters, fault draws) that
:class:`Simulator` owns; the records and the throttler live in ``_store`` and ``_throttler``.

    async with Simulator(records=1000) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            ...
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Literal

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .._config import RateLimits
from .._endpoints import SCOPES
from ._store import KINDS, Order, Store, iso
from ._throttler import Storage, Throttler, format_seconds

DEFAULT_KEY = "sk_test_simulator"
DEFAULT_LIMITS = RateLimits()
FaultKind = Literal[
    "status", "retry_after", "latency", "reset_before", "reset_after", "truncated", "non_json", "status_after"
]


@attrs.frozen
class SimKey:
    """A key known to the simulator: its scopes and optional expiry (simulator clock).

    .. versionadded:: 0.1.0
    """

    scopes: frozenset[str] = attrs.field(default=SCOPES, converter=frozenset)
    expires_at: float | None = None


@attrs.frozen
class Fault:
    """One injected fault, applied with ``probability`` or on the request numbers in ``on``.

    Args:
        kind: ``status`` (answer ``status``), ``retry_after`` (503 with ``Retry-After``),
            ``latency`` (delay ``latency`` seconds, plus a uniform random ``jitter``, plus
            ``tail`` with ``tail_probability``),
            ``reset_before`` (drop the connection before processing), ``reset_after``
            (process, e.g. create the record, then drop the connection), ``status_after``
            (process, then answer ``status`` instead of the result), ``truncated``
            (cut JSON body), ``non_json`` (an HTML error page with status 200).
        probability: Chance per matching request.
        on: 1-based numbers of matching requests that get the fault (a schedule).
        methods: Only requests with these methods (all when empty).
        status: The status for ``status`` faults.
        retry_after: Seconds for ``retry_after`` faults.

    .. versionadded:: 0.1.0
    """

    kind: FaultKind
    probability: float = 0.0
    on: frozenset[int] = attrs.field(default=frozenset(), converter=frozenset)
    methods: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    status: int = 500
    retry_after: float = 1.0
    latency: float = 0.0
    jitter: float = 0.0
    tail: float = 0.0
    tail_probability: float = 0.0


@attrs.define
class KeyStats:
    """Per-key counters (``accepted`` = answered without 429; ``rejected`` = 429s)."""

    accepted: int = 0
    rejected: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    faults: Counter[str] = attrs.field(factory=Counter)
    first_accepted: float | None = None
    last_accepted: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unauthorized": self.unauthorized,
            "forbidden": self.forbidden,
            "faults": dict(self.faults),
            "span": (self.last_accepted - self.first_accepted)
            if self.first_accepted is not None and self.last_accepted is not None
            else None,
        }


def _envelope(data: Any, *, status: int = 200, count: int | None = None, error: str | None = None) -> dict[str, Any]:
    return {"statusCode": status, "count": count if count is not None else 1, "error": error, "data": data}


class Simulator:
    """The Salescaling API, simulated locally.

    Args:
        keys: Key -> :class:`SimKey` (default: one key, ``DEFAULT_KEY``, with every scope).
        records: Seeded records per resource path (``{"contacts": 5000}``) or one number for all.
        seed: Seed of the generated data and of probabilistic faults.
        limits: The throttler's windows (the published ones by default; ``None`` disables).
        time_scale: Shrinks every window by this factor (10: 20/0.1 s, 200/1 s, 1000/6 s).
            Time headers stay whole seconds rounded up, as a real throttler with such short
            windows sends them (a 0.1 s block says ``Retry-After-short: 1``).
        storage: ``sliding`` (NestJS default) or ``fixed`` (a common Redis storage).
        block_duration: Block after going over (default: the window length), unscaled seconds.
        per_route: Count limits per key and route instead of per key.
        faults: Faults to inject.
        order: Listing order; ``newest_first`` makes records shift pages when created mid-listing.
        count_mode: ``total`` (envelope ``count`` is the number matching) or ``page``.
        clock: Monotonic seconds (tests may pass ``FakeClock().now``).
        host, port: Where to listen (port 0: any free port).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        keys: Mapping[str, SimKey] | None = None,
        records: int | Mapping[str, int] = 50,
        seed: int = 0,
        limits: RateLimits | None = DEFAULT_LIMITS,
        time_scale: float = 1.0,
        storage: Storage = "sliding",
        block_duration: float | None = None,
        per_route: bool = False,
        faults: Iterable[Fault] = (),
        order: Order = "oldest_first",
        count_mode: Literal["total", "page"] = "total",
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.keys = dict(keys) if keys is not None else {DEFAULT_KEY: SimKey()}
        counts = records if isinstance(records, Mapping) else dict.fromkeys(KINDS, records)
        self.store = Store(seed=seed, records=counts, order=order)
        self.time_scale = time_scale
        self.limits = limits.scaled(time_scale) if limits is not None else None
        block = block_duration / time_scale if block_duration is not None else None
        self.throttler = (
            Throttler(self.limits.windows, storage=storage, block_duration=block) if self.limits is not None else None
        )
        self.per_route = per_route
        self.faults = tuple(faults)
        self.count_mode = count_mode
        self.clock = clock
        self.host, self.port = host, port
        self._rng = random.Random(seed)
        self._fault_counts: Counter[int] = Counter()
        self._stats: dict[str, KeyStats] = {}
        self.peers: set[object] = set()
        """Client addresses seen (one per TCP connection), to check connection pooling."""
        self._runner: web.AppRunner | None = None
        self._scopes: dict[object, str] = {}
        self.app = self._build_app()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The first registered key (the default key unless ``keys`` was given)."""
        return next(iter(self.keys))

    @property
    def url(self) -> str:
        """Base URL for clients: ``http://host:port/api/v1/``."""
        return f"http://{self.host}:{self.port}/api/v1/"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, backlog=1024).start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- introspection ------------------------------------------------------------------------

    def stats(self, key: str | None = None) -> KeyStats:
        """Counters of ``key`` (default: :attr:`api_key`)."""
        return self._stats.setdefault(key or self.api_key, KeyStats())

    def reset_stats(self) -> None:
        self._stats.clear()

    @property
    def open_connections(self) -> int:
        """TCP connections the server holds, counting one closed while a request on it runs.

        aiohttp keeps a closed connection until the request being handled on it ends, so 0,
        once the clients are gone, means the counters no longer change for anything sent on a
        connection the server had accepted: a test can wait for it instead of sleeping.  Not
        seen: a connection still in the listen backlog (a client that died while connecting),
        and requests pipelined behind the one in progress, which aiohttp drops when the
        connection goes.  Safe to read from another thread.

        .. versionadded:: 0.2.0
        """
        runner = self._runner
        server = runner.server if runner is not None else None
        return len(server.connections) if server is not None else 0

    # -- the app ------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        steps = (
            self._delay,
            self._authenticate,
            self._reset_before,
            self._throttle,
            self._answer_instead,
            self._spoil_result,
            self._send_rate_headers,
        )
        app = web.Application(
            client_max_size=64 * 1024 * 1024,
            middlewares=[self._open_visit, *map(_on_api_calls, steps)],
        )
        r = app.router
        r.add_get("/_simulator/stats", self._h_stats)
        r.add_post("/_simulator/reset", self._h_reset)
        r.add_post("/api/v1/calls/upload", self._api("calls:write", self._h_upload))
        r.add_put("/api/v1/users/{id}/metadata", self._api("users:write", self._h_metadata))
        for path, kind in KINDS.items():
            r.add_get(f"/api/v1/{path}", self._api(f"{kind.scope}:read", self._h_list, path))
            r.add_get(f"/api/v1/{path}/{{id}}", self._api(f"{kind.scope}:read", self._h_get, path))
            if kind.creatable:
                r.add_post(f"/api/v1/{path}", self._api(f"{kind.scope}:write", self._h_create, path))
        return app

    async def _h_stats(self, request: web.Request) -> web.Response:
        return web.json_response({k: v.as_dict() for k, v in self._stats.items()})

    async def _h_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response({"ok": True})

    def _api(self, scope: str, handler: Callable[..., Awaitable[web.Response]], path: str | None = None) -> Handler:
        """Register an API endpoint needing ``scope``; the middlewares run only for these."""

        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await (handler(request, path) if path else handler(request))

        self._scopes[endpoint] = scope
        return endpoint

    # -- the middlewares, outermost first: each applies one concern or one fault phase ---------

    @web.middleware
    async def _open_visit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Start the visit of an API call: note the peer and draw this request's faults."""
        scope = self._scopes.get(request.match_info.handler)
        if scope is None:
            return await handler(request)
        if request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        token = _VISIT.set(_Visit(scope=scope, faults=self._pick_faults(request.method)))
        try:
            return await handler(request)
        finally:
            _VISIT.reset(token)

    async def _delay(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """``latency`` faults: wait before anything else (authentication included)."""
        for fault in visit.of_kinds("latency"):
            extra = fault.tail if self._rng.random() < fault.tail_probability else 0.0
            await asyncio.sleep(fault.latency + self._rng.uniform(0.0, fault.jitter) + extra)
        return await handler(request)

    async def _authenticate(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """401 for an unknown or expired key, 403 for a missing scope; nothing else counts them."""
        key = request.headers.get("x-api-key", "")
        sim_key = self.keys.get(key)
        visit.now = self.clock()
        if sim_key is None or (sim_key.expires_at is not None and visit.now >= sim_key.expires_at):
            if sim_key is not None:
                self.stats(key).unauthorized += 1
            return _error(401, "Unauthorized: missing or invalid API key")
        visit.key, visit.stats = key, self.stats(key)
        if visit.scope not in sim_key.scopes:
            visit.stats.forbidden += 1
            return _error(403, f"Forbidden: the API key lacks the scope {visit.scope}")
        return await handler(request)

    async def _reset_before(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """``reset_before`` faults: drop the connection before the call is throttled or processed."""
        if visit.of_kinds("reset_before"):
            visit.stats.faults["reset_before"] += 1
            return _drop_connection(request)
        return await handler(request)

    async def _throttle(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """The throttler: 429 when over a window, otherwise count the call as accepted."""
        if self.throttler is not None:
            resource = request.match_info.route.resource
            route = f"{request.method} {resource.canonical if resource else request.path}"
            verdict = self.throttler.hit(f"{visit.key}|{route}" if self.per_route else visit.key, visit.now)
            visit.rate_headers = verdict.headers
            if not verdict.allowed:
                visit.stats.rejected += 1
                return web.json_response(
                    {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                    status=429,
                    headers=verdict.headers,
                )
        stats = visit.stats
        stats.accepted += 1
        if stats.first_accepted is None:
            stats.first_accepted = visit.now
        stats.last_accepted = visit.now
        return await handler(request)

    async def _answer_instead(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """``status``, ``retry_after`` and ``non_json`` faults: answer without processing the call."""
        for fault in visit.of_kinds("status", "retry_after", "non_json"):
            visit.stats.faults[fault.kind] += 1
            return self._fault_response(fault, visit.rate_headers)
        return await handler(request)

    async def _spoil_result(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """``reset_after``, ``status_after`` and ``truncated`` faults: process the call, then spoil the answer."""
        response = await handler(request)
        for fault in visit.of_kinds("reset_after", "status_after", "truncated"):
            if fault.kind == "reset_after":
                visit.stats.faults["reset_after"] += 1
                return _drop_connection(request)
            if fault.kind == "status_after":
                visit.stats.faults["status_after"] += 1
                return self._fault_response(fault, visit.rate_headers)
            if isinstance(response, web.Response) and response.body:
                visit.stats.faults["truncated"] += 1
                body = bytes(response.body)  # type: ignore[arg-type]
                response.body = body[: max(1, len(body) // 2)]
        return response

    async def _send_rate_headers(self, request: web.Request, handler: Handler, visit: _Visit) -> web.StreamResponse:
        """The throttler's headers on the endpoint's own answer."""
        response = await handler(request)
        for name, value in visit.rate_headers:
            response.headers[name] = value
        return response

    def _pick_faults(self, method: str) -> list[Fault]:
        chosen = []
        for index, fault in enumerate(self.faults):
            if fault.methods and method not in fault.methods:
                continue
            self._fault_counts[index] += 1
            if self._fault_counts[index] in fault.on or (fault.probability and self._rng.random() < fault.probability):
                chosen.append(fault)
        return chosen

    def _fault_response(self, fault: Fault, headers: tuple[tuple[str, str], ...]) -> web.Response:
        if fault.kind == "non_json":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if fault.kind == "retry_after":
            value = format_seconds(fault.retry_after / self.time_scale)
            return _error(503, "Service Unavailable", headers={"Retry-After": value})
        return _error(fault.status, "Internal server error", headers=headers)

    # -- resource handlers ------------------------------------------------------------------

    async def _h_list(self, request: web.Request, path: str) -> web.Response:
        query = request.query
        page, limit = _int(query.get("page"), 1), _int(query.get("limit"), 10)
        if page is None or limit is None:
            return _bad("page and limit must be integers >= 1")
        filters = {k: v for k, v in query.items() if k not in ("page", "limit")}
        rows = self.store.query(path, filters)
        chunk = rows[(page - 1) * limit : page * limit]
        count = len(rows) if self.count_mode == "total" else len(chunk)
        return web.json_response(_envelope(chunk, count=count))

    async def _h_get(self, request: web.Request, path: str) -> web.Response:
        record = self.store.get(path, request.match_info["id"])
        if record is None:
            return _error(404, "Not Found")
        return web.json_response(_envelope(record))

    async def _h_create(self, request: web.Request, path: str) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _bad("body must be JSON")
        if not isinstance(body, dict):
            return _bad("body must be a JSON object")
        missing = [f for f in KINDS[path].required if not body.get(f)]
        if missing:
            return _bad(f"{', '.join(missing)} should not be empty")
        now = iso_now()
        record = self.store.add(path, {**body, "createdAt": now, "updatedAt": now})
        return web.json_response(_envelope(record), status=201)

    async def _h_upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        name, start = form.get("name"), form.get("startDateTime")
        if not name or not start or not (form.get("mediaUrl") or form.get("file") is not None):
            return _bad("name, startDateTime and mediaUrl or file are required")
        record = self.store.add(
            "calls",
            {
                "status": "processing",
                "name": str(name),
                "startDateTime": str(start),
                "description": str(form.get("description") or "") or None,
                "fromNumber": form.get("fromNumber"),
                "toNumber": form.get("toNumber"),
            },
        )
        return web.json_response(_envelope({"callId": record["callId"]}), status=201)

    async def _h_metadata(self, request: web.Request) -> web.Response:
        user = self.store.get("users", request.match_info["id"])
        if user is None:
            return _error(404, "Not Found")
        try:
            body = await request.json()
        except ValueError:
            return _bad("body must be JSON")
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict):
            return _bad("metadata must be an object")
        user["metadata"] = dict(metadata)
        return web.json_response(_envelope(user["metadata"]))


def iso_now() -> str:
    return iso(datetime.now(timezone.utc))


def _int(value: str | None, default: int) -> int | None:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 1 else None


def _bad(message: str) -> web.Response:
    return _error(400, message)


def _error(status: int, message: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> web.Response:
    return web.json_response(_envelope(None, status=status, count=0, error=message), status=status, headers=headers)


def _drop_connection(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


@attrs.define
class _Visit:
    """What the middlewares learn about one API call, for the ones further in."""

    scope: str
    faults: list[Fault]
    now: float = 0.0
    key: str = ""
    stats: KeyStats = attrs.field(factory=KeyStats)
    rate_headers: tuple[tuple[str, str], ...] = ()

    def of_kinds(self, *kinds: FaultKind) -> list[Fault]:
        return [fault for fault in self.faults if fault.kind in kinds]


# The visit of the API call being served (each request is served in its own context).
_VISIT: ContextVar[_Visit] = ContextVar("salescaling_simulator_visit")

Step = Callable[[web.Request, Handler, _Visit], Awaitable[web.StreamResponse]]


def _on_api_calls(step: Step) -> Middleware:
    """An aiohttp middleware running ``step`` on API calls only (the simulator's own routes pass through)."""

    @web.middleware
    def middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        # A plain function handing back the step's awaitable: no extra coroutine frame per request.
        visit = _VISIT.get(None)
        return handler(request) if visit is None else step(request, handler, visit)

    return middleware
