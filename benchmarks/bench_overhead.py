"""Client CPU per request against raw aiohttp, typed parsing speed, and memory per key / waiter.

    python -m benchmarks.bench_overhead            (n = 10,000 per mode, 3 rounds)
    python -m benchmarks.bench_overhead --quick    (n = 2,000, 1 round: a smoke run)

**CPU per request.**  A tiny aiohttp server in another process answers every request with
one envelope of 10 contacts.  The client process measures ``time.process_time()`` (CPU of
all its threads, so the blocking client's portal thread counts) around ``n`` requests made
by 64 tasks, with rate limits and the pool far above the load, for every mode in one run:
raw ``aiohttp.ClientSession`` GET + ``json()``; ``client.request("GET", "contacts")``; a typed
list page ``client.contacts.list(page_size=10).first_page()``; the same page spread over 1,
100 and 10,000 keys (``with_key()`` views made up front, round robin; with n = 10,000 every
one of the 10,000 keys gets its first request in the measured run, so its state is made
there), and over 10,000 other keys that have all been asked once before (the steady state of
a multi-tenant service), both with the views kept and with a ``with_key()`` view made for
each request (what a web handler that gets the tenant's key per request writes);
``client.request()`` spread over 10,000 further keys the same way; raw aiohttp,
``request()`` and the page again against a route that also sends the real API's nine
rate-limit headers per key (limit, remaining and reset of three windows; what every response
of the real API carries, and what the client learns from); and the blocking
``Salescaling.request`` from 8 threads.  The async modes take turns in 10 slices of n/10
requests, so a change of machine load hits them alike; the median of the rounds is reported,
with its ratio to the raw figure of the same run.

**The SDK alone.**  The same calls with a transport that answers at once (no sockets, one
task), beside ``json.loads`` of the same body: what the pipeline itself costs per call.

**A listing in pages of 100** (the shape of a bulk sync), the SDK alone: CPU per record of
``async for`` over 2,050 contacts, and of fetching the same pages with ``first_page()``.

**Parsing.**  Records per second turning a decoded page of 100 contacts into models
(``structure_list``), and from bytes the SDK's way: ``decode_json`` (the decoder plus the
checks every response gets: strict UTF-8, the depth bound, exact long integers) then models,
with the standard library and with ``orjson`` when installed; the bare decoders beside them.

**Memory** (``tracemalloc``, FakeClock, no I/O).  A scheduler holding one settled request for
each of 10,000 keys, then the same after the longest window has passed, and how many requests
(of any key) it takes until the idle keys are evicted;
100,000 waiters queued on one key (a task and a future each), and timer wake-ups per grant
while the first 2,000 of them are served.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import itertools
import json
import multiprocessing
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ._common import free_port, table

N = 10_000
ROUNDS = 3
TASKS = 64
THREADS = 8
SLICES = 10


def _contact(i: int) -> dict[str, Any]:
    return {
        "id": f"c{i:06d}",
        "firstName": "Ada",
        "lastName": f"Lovelace {i}",
        "email": f"ada{i}@example.com",
        "phone": "+44 20 7946 0000",
        "city": "London",
        "country": "GB",
        "titlePosition": "Analyst",
        "language": "en",
        "leadSource": "web",
        "companyId": "co-1",
        "createdAt": "2024-05-01T10:00:00.000Z",
        "updatedAt": "2024-06-01T12:30:00.000Z",
    }


def _page(size: int) -> dict[str, Any]:
    return {"statusCode": 200, "count": size, "error": None, "data": [_contact(i) for i in range(size)]}


# -- the server, in its own process -----------------------------------------------------------


# The real API's throttler answers every request with a limit, a remaining count and a reset
# for each of its three windows, counted per API key; the "API headers" modes get them too
# (limits far above the load).  Per key as the API does: hits of one key's requests in
# another key's counts look like somebody else using the key (foreign traffic).
HEADED = "headed/"
_WINDOWS = (("short", 1.0), ("medium", 10.0), ("long", 60.0))
_FAR = 10**9


def _serve(port: int, ready: Any) -> None:
    from aiohttp import web

    body = json.dumps(_page(10)).encode()
    keys: dict[str, dict[str, collections.deque[float]]] = {}

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async def answer_with_headers(request: web.Request) -> web.Response:
        now, headers = time.monotonic(), {}
        key = request.headers.get("x-api-key", "")
        hits = keys.get(key)
        if hits is None:
            hits = keys[key] = {name: collections.deque() for name, _ in _WINDOWS}
        for name, seconds in _WINDOWS:
            log = hits[name]
            log.append(now)
            while log[0] <= now - seconds:
                log.popleft()
            headers[f"X-RateLimit-Limit-{name}"] = str(_FAR)
            headers[f"X-RateLimit-Remaining-{name}"] = str(_FAR - len(log))
            headers[f"X-RateLimit-Reset-{name}"] = str(int(seconds))
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", f"/api/v1/{HEADED}{{tail:.*}}", answer_with_headers)
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class _Server:
    def __enter__(self) -> str:
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        port = free_port()
        self.proc = ctx.Process(target=_serve, args=(port, ready), daemon=True)
        self.proc.start()
        if not ready.wait(60):
            raise RuntimeError("server did not start")
        return f"http://127.0.0.1:{port}/api/v1/"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join(10)


# -- CPU per request ----------------------------------------------------------------------------


async def _spread(n: int, call: Callable[[int], Awaitable[Any]]) -> float:
    """CPU seconds per request of ``n`` calls made by ``TASKS`` tasks."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    gc.collect()
    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(TASKS)))
    return (time.process_time() - started) / n


KNOWN_KEYS = "the same page over 10,000 keys, each key asked before"
VIEW_PER_REQUEST = "the same, a with_key() view made for each request"
# With the ``fast`` extra installed the SDK decodes with orjson; these modes switch it off,
# which is what the default install (no extras) runs.
STDLIB_REQUEST = 'client.request("GET", "contacts"), standard-library JSON (no `fast` extra)'
STDLIB_PAGE = "contacts.list(page_size=10).first_page(), standard-library JSON"
STDLIB = {STDLIB_REQUEST, STDLIB_PAGE}
REQUEST_KEYS = 'client.request("GET", "contacts") over 10,000 keys (with_key)'
RAW_HEADED = "raw aiohttp GET + json(), server sending the API's 9 rate-limit headers"
REQUEST_HEADED = 'client.request("GET", "contacts"), the same headers'
PAGE_HEADED = "contacts.list(page_size=10).first_page(), the same headers"


def _client_kwargs() -> dict[str, Any]:
    from salescaling_async import PoolLimits, RateLimits, Window

    far = RateLimits((Window("short", 10**9, 1.0), Window("medium", 10**9, 10.0), Window("long", 10**9, 60.0)))
    return {"limits": far, "pool": PoolLimits(max_connections=100)}


@contextlib.contextmanager
def _json_of(mode: str) -> Iterator[None]:
    """The standard library's decoder for the :data:`STDLIB` modes, orjson (if installed) else."""
    from salescaling_async import _decode

    saved = _decode._orjson
    if mode in STDLIB:
        _decode._orjson = None
    try:
        yield
    finally:
        _decode._orjson = saved


async def _async_modes(url: str, n: int, results: dict[str, list[float]]) -> None:
    import aiohttp

    from salescaling_async import AsyncSalescaling, _decode

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as raw,
        AsyncSalescaling("bench-key-0", base_url=url, **_client_kwargs()) as client,
        AsyncSalescaling("bench-headed-key", base_url=url + HEADED, **_client_kwargs()) as headed,
    ):
        contacts_url = url + "contacts"

        async def raw_call(_i: int) -> Any:
            async with raw.get(contacts_url, headers={"x-api-key": "bench-key-0"}) as resp:
                return await resp.json()

        async def raw_headed(_i: int) -> Any:
            async with raw.get(url + HEADED + "contacts", headers={"x-api-key": "bench-key-0"}) as resp:
                return await resp.json()

        views = {k: [client.with_key(f"bench-key-{j}") for j in range(k)] for k in (1, 100, 10_000)}
        known = [client.with_key(f"bench-known-key-{j}") for j in range(10_000)]
        known_names = itertools.cycle([f"bench-known-key-{j}" for j in range(10_000)])
        request_ring = itertools.cycle([client.with_key(f"bench-request-key-{j}") for j in range(10_000)])

        def page_over(ring_views: list[Any]) -> Callable[[int], Awaitable[Any]]:
            ring = itertools.cycle(ring_views)  # round robin across slices and rounds of the mode
            return lambda _i: next(ring).contacts.list(page_size=10).first_page()

        modes: dict[str, Callable[[int], Awaitable[Any]]] = {
            "raw aiohttp GET + json()": raw_call,
            'client.request("GET", "contacts")': lambda _i: client.request("GET", "contacts"),
            "contacts.list(page_size=10).first_page()": lambda _i: client.contacts.list(page_size=10).first_page(),
            "the same page over 1 key (with_key)": page_over(views[1]),
            "the same page over 100 keys": page_over(views[100]),
            "the same page over 10,000 keys": page_over(views[10_000]),
            KNOWN_KEYS: page_over(known),
            VIEW_PER_REQUEST: lambda _i: client.with_key(next(known_names)).contacts.list(page_size=10).first_page(),
            REQUEST_KEYS: lambda _i: next(request_ring).request("GET", "contacts"),
            RAW_HEADED: raw_headed,
            REQUEST_HEADED: lambda _i: headed.request("GET", "contacts"),
            PAGE_HEADED: lambda _i: headed.contacts.list(page_size=10).first_page(),
        }
        if _decode._orjson is not None:
            modes[STDLIB_REQUEST] = modes['client.request("GET", "contacts")']
            modes[STDLIB_PAGE] = modes["contacts.list(page_size=10).first_page()"]
        totals = dict.fromkeys(modes, 0.0)
        for name, call in modes.items():
            if name in ("the same page over 10,000 keys", REQUEST_KEYS):
                continue  # its first requests to most keys are part of what it measures
            # Warm up: connections, caches, first-use paths (every key's first request for KNOWN_KEYS).
            with _json_of(name):
                await _spread(10_000 if name == KNOWN_KEYS else min(n, 500), call)
        # The modes take turns in slices, so that a change of machine load hits them all alike.
        for _ in range(SLICES):
            for name, call in modes.items():
                with _json_of(name):
                    totals[name] += await _spread(n // SLICES, call) / SLICES
        for name, total in totals.items():
            results.setdefault(name, []).append(total)


def _blocking_mode(url: str, n: int) -> float:
    from salescaling_async import Salescaling

    with Salescaling("bench-key-0", base_url=url, **_client_kwargs()) as client:

        def run(count: int) -> float:
            per_thread = count // THREADS

            def work() -> None:
                for _ in range(per_thread):
                    client.request("GET", "contacts")

            threads = [threading.Thread(target=work) for _ in range(THREADS)]
            gc.collect()
            started = time.process_time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return (time.process_time() - started) / (per_thread * THREADS)

        run(min(n, 400))
        return run(n)


def cpu_per_request(n: int, rounds: int) -> list[dict[str, Any]]:
    results: dict[str, list[float]] = {}
    blocking = "blocking Salescaling.request, 8 threads"
    with _Server() as url:
        for r in range(rounds):
            print(f"  round {r + 1}/{rounds} ...", file=sys.stderr, flush=True)
            asyncio.run(_async_modes(url, n, results))
            results.setdefault(blocking, []).append(_blocking_mode(url, n))
    medians = {name: statistics.median(values) for name, values in results.items()}
    raw = medians["raw aiohttp GET + json()"]
    return [
        {"mode": name, "client CPU per request (µs)": round(value * 1e6), "vs raw aiohttp": f"{value / raw:.2f}x"}
        for name, value in medians.items()
    ]


# -- the SDK's own CPU, without the network ---------------------------------------------------


class _AtOnce:
    """A transport answering every request at once with the server's envelope of 10 contacts."""

    def __init__(self) -> None:
        from salescaling_async.testing import RawResponse

        self.response = RawResponse  # imported once, not per call (that would count as the SDK's)
        self.body = json.dumps(_page(10)).encode()
        self.headers = (("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(self.body))))

    async def send(self, request: Any) -> Any:
        return self.response(200, self.headers, self.body, request.url)

    async def aclose(self) -> None:
        pass


async def _sdk_only(n: int) -> list[dict[str, Any]]:
    """CPU per call of the SDK alone (one task, no sockets): what the pipeline itself costs."""
    from salescaling_async import AsyncSalescaling

    transport = _AtOnce()
    async with AsyncSalescaling(
        "bench-key-0", base_url="http://127.0.0.1:9/api/v1/", transport=transport, **_client_kwargs()
    ) as client:
        modes: dict[str, Callable[[], Awaitable[Any]]] = {
            "json.loads of the body (raw aiohttp does it too)": lambda: asyncio.sleep(0, json.loads(transport.body)),
            'client.request("GET", "contacts")': lambda: client.request("GET", "contacts"),
            "contacts.list(page_size=10).first_page()": lambda: client.contacts.list(page_size=10).first_page(),
        }
        rows = []
        for name, call in modes.items():
            for _ in range(min(n, 1000)):
                await call()
            gc.collect()
            started = time.process_time()
            for _ in range(n):
                await call()
            rows.append(
                {
                    "call (transport answers at once)": name,
                    "SDK CPU per call (µs)": f"{(time.process_time() - started) / n * 1e6:.1f}",
                }
            )
    return rows


class _Pages:
    """A transport answering ``page`` of a listing of 2,050 contacts: 20 pages of 100, then 50."""

    RECORDS = 2_050

    def __init__(self) -> None:
        from salescaling_async.testing import RawResponse

        self.response = RawResponse
        self.bodies: dict[str, bytes] = {}
        for number in range(1, 22):
            page = _page(100 if number <= 20 else 50)
            for index, record in enumerate(page["data"]):
                record["id"] = f"c{number:03d}{index:03d}"  # ids differ from page to page
            page["count"] = self.RECORDS
            self.bodies[str(number)] = json.dumps(page).encode()

    async def send(self, request: Any) -> Any:
        body = self.bodies[dict(request.params).get("page", "1")]
        headers = (("Content-Type", "application/json"), ("Content-Length", str(len(body))))
        return self.response(200, headers, body, request.url)

    async def aclose(self) -> None:
        pass


async def _sdk_listing(rounds: int = 10) -> list[dict[str, Any]]:
    """CPU per record of the SDK alone for a whole listing in pages of 100 (a bulk sync's
    shape): every page fetched, decoded, checked and built, with and without iterating it."""
    from salescaling_async import AsyncSalescaling

    async with AsyncSalescaling(
        "bench-key-0", base_url="http://127.0.0.1:9/api/v1/", transport=_Pages(), **_client_kwargs()
    ) as client:

        async def iterate() -> None:
            async for _contact in client.contacts.list(page_size=100):
                pass

        async def pages() -> None:
            for number in range(1, 22):
                await client.contacts.list(page_size=100, start_page=number).first_page()

        modes = {
            "`async for contact in contacts.list(page_size=100)`": iterate,
            "the same 21 pages by `first_page()` (no de-duplication, no per-record yield)": pages,
        }
        rows = []
        for name, call in modes.items():
            await call()
            gc.collect()
            started = time.process_time()
            for _ in range(rounds):
                await call()
            per_record = (time.process_time() - started) / rounds / _Pages.RECORDS
            rows.append(
                {"listing of 2,050 contacts (SDK alone)": name, "SDK CPU per record (µs)": f"{per_record * 1e6:.2f}"}
            )
    return rows


# -- parsing ----------------------------------------------------------------------------------


def parsing(pages: int = 300) -> list[dict[str, Any]]:
    from salescaling_async import _decode
    from salescaling_async._convert import structure_list
    from salescaling_async._decode import decode_json
    from salescaling_async.models import Contact

    page = _page(100)
    body = json.dumps(page).encode()
    rows = []

    def rate(label: str, fn: Callable[[], Any]) -> None:
        fn()
        started = time.process_time()
        for _ in range(pages):
            fn()
        elapsed = time.process_time() - started
        rows.append({"step": label, "records/s": round(pages * 100 / elapsed)})

    def models() -> Any:
        return structure_list(decode_json(body, status=200)["data"], Contact)  # type: ignore[index,call-overload]

    rate("decoded page -> models (structure_list)", lambda: structure_list(page["data"], Contact))
    rate("bytes -> dict (json.loads alone)", lambda: json.loads(body))
    with _json_of(STDLIB_PAGE):
        rate("bytes -> dict, the SDK's checked decoding (standard library)", lambda: decode_json(body, status=200))
        rate("bytes -> models, the SDK's way (standard library)", models)
    if _decode._orjson is not None:
        rate("bytes -> dict (orjson.loads alone)", lambda: _decode._orjson.loads(body))
        rate("bytes -> dict, the SDK's checked decoding (orjson)", lambda: decode_json(body, status=200))
        rate("bytes -> models, the SDK's way (orjson)", models)
    return rows


# -- memory -----------------------------------------------------------------------------------


def _used(before: int) -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before


async def _memory_keys(keys: int) -> list[dict[str, Any]]:
    from salescaling_async._scheduler import Scheduler
    from salescaling_async.testing import FakeClock

    clock = FakeClock()
    scheduler = Scheduler(clock=clock)

    async def fill() -> None:
        for i in range(keys):
            permit = await scheduler.acquire(f"key-{i:06d}")
            permit.received({})

    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    await fill()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracked = scheduler.tracked_keys
    clock.advance(61.0)  # past the longest default window: every key is idle
    permit = await scheduler.acquire("one-busy-key")
    permit.received({})
    gc.collect()
    rows = [
        {"state": f"{keys:,} keys, one settled request each", "tracked keys": tracked, "bytes": held},
        {
            "state": "61 s later, one request of another key",
            "tracked keys": scheduler.tracked_keys,
            "bytes": _used(before),
        },
    ]
    # Eviction is spread over requests (of any key, new or not): count the requests it takes.
    requests = 1
    while scheduler.tracked_keys > 1 and requests < 4 * keys:
        clock.advance(1.0)  # one request a second: well within the key's windows
        permit = await scheduler.acquire("one-busy-key")
        permit.received({})
        requests += 1
    gc.collect()
    swept = f"after {requests:,} requests of that key (idle keys evicted)"
    rows.append({"state": swept, "tracked keys": scheduler.tracked_keys, "bytes": _used(before)})
    for row in rows[:2]:
        row["bytes per tracked key"] = round(row["bytes"] / max(1, row["tracked keys"]))
    rows[2]["bytes per tracked key"] = "-"  # what is left is the tables of the key map, not keys
    return rows


async def _memory_waiters(waiters: int, served: int) -> list[dict[str, Any]]:
    from salescaling_async import RateLimits, Window
    from salescaling_async._scheduler import Scheduler
    from salescaling_async.testing import FakeClock

    clock = FakeClock()
    scheduler = Scheduler(RateLimits((Window("short", 20, 1.0),)), clock=clock)
    granted = 0

    async def one() -> None:
        nonlocal granted
        permit = await scheduler.acquire("hot")
        granted += 1
        permit.received({})

    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    tasks = [asyncio.ensure_future(one()) for _ in range(waiters)]
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()
    queued_bytes = tracemalloc.get_traced_memory()[0] - before
    queued = sum(scheduler.statistics("hot").queued.values())
    start_grants, start_wakeups = granted, scheduler.statistics("hot").wakeups
    while granted - start_grants < served:
        due = clock.next_due()
        assert due is not None, "the scheduler armed no timer while waiters queue"
        clock.advance(max(0.0, due - clock.now()))
        for _ in range(3):
            await asyncio.sleep(0)
    stats = scheduler.statistics("hot")
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return [
        {
            "waiters queued": queued,
            "bytes per waiter (task + future + queue)": round(queued_bytes / waiters),
            "grants observed": granted - start_grants,
            "timer wake-ups per grant": f"{(stats.wakeups - start_wakeups) / (granted - start_grants):.3f}",
        }
    ]


def memory(keys: int = 10_000, waiters: int = 100_000, served: int = 2_000) -> tuple[list[Any], list[Any]]:
    tracemalloc.start()
    try:
        key_rows = asyncio.run(_memory_keys(keys))
        waiter_rows = asyncio.run(_memory_waiters(waiters, served))
    finally:
        tracemalloc.stop()
    return key_rows, waiter_rows


# -- report -----------------------------------------------------------------------------------


def run(results_dir: Path, *, n: int = N, rounds: int = ROUNDS) -> str:
    """Every figure of this benchmark as one Markdown section (also written to ``overhead.md``)."""
    cpu = cpu_per_request(n, rounds)
    sdk_only = asyncio.run(_sdk_only(n))
    listing = asyncio.run(_sdk_listing())
    parse = parsing()
    keys, waiters = memory()
    section = "\n".join(
        [
            "## Per-request overhead, parsing and memory (bench_overhead)\n",
            f"n = {n:,} requests per mode and round, {TASKS} tasks (blocking: {THREADS} threads), "
            f"median of {rounds} interleaved rounds; client CPU from `time.process_time()`; "
            "the server runs in another process.\n",
            table("Client CPU per request", cpu),
            table("The SDK's own CPU per call (no network, one task)", sdk_only),
            table("The SDK's own CPU per record of a listing in pages of 100 (no network)", listing),
            table("Typed parsing (pages of 100 contacts)", parse),
            table("Idle budget memory per key (Scheduler, tracemalloc)", keys),
            table("100,000 waiters on one key (20/s window, FakeClock)", waiters),
        ]
    )
    (results_dir / "overhead.md").write_text(section)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2,000, one round")
    parser.add_argument("-n", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    n = args.n or (2_000 if args.quick else N)
    rounds = args.rounds or (1 if args.quick else ROUNDS)
    args.out.mkdir(parents=True, exist_ok=True)
    print(run(args.out, n=n, rounds=rounds))


if __name__ == "__main__":
    main()
