"""Fleets through restarts, Redis loss and outages (issue 11): 429s and accepted / ceiling.

Against the simulator (NestJS sliding-log semantics, windows scaled x6: 20/0.167 s,
200/1.67 s, 1000/10 s) in its own process:

* **cold start**: 4 successive processes on one key, budget in the process, no pause between
  them, each running 12 s (longer than the long window), every other one SIGKILLed mid-run;
  and the same with the key's log on Redis (one ``RedisBudget``, which outlives the processes);
* **Redis FLUSHALL**: 4 processes x 25 tasks saturating one key through Redis, the whole
  Redis flushed mid-run;
* **Redis restart, empty**: the same with ``on_failure="local"`` (fraction 0.25), Redis
  killed mid-run and restarted empty 3 s later;
* **outside traffic**: 2 fleet processes on Redis plus a client outside the fleet (a plain
  aiohttp loop at a quarter of the short limit, ignoring 429s: it trips the key by itself)
  on the same key;
* **well-behaved outside traffic**: the same with an outside client that stays within the
  limits by itself (3 requests per unscaled second, obeying ``Retry-After``), with 2 fleet
  processes on Redis and with 1 process on the local budget; ``client 429s`` are the
  fleet's, ``outside 429s`` the outside client's.

``accepted / ceiling`` uses the span between the first and the last request the server
accepted for the key, so process start-up is not counted.

    python -m benchmarks.bench_fleet        # writes benchmarks/results/fleet.md
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salescaling_async import RateLimits
from salescaling_async.testing import SimKey
from tests.redis_server import RedisServer

from ._common import Row, simulator_process, table
from .bench_redis import _server_stats

SCALE = 6.0
TASKS = 25


def _worker(
    redis_url: str | None,
    namespace: str,
    base_url: str,
    key: str,
    until: float,
    on_failure: str,
    out: Any,
    go: Any = None,
) -> None:
    import asyncio

    from salescaling_async import AsyncSalescaling, RedisBudget, RetryConfig

    if go is not None:  # started early, imports done: begin the moment the previous one ends
        go.wait()
        until = time.time() + until

    async def main() -> None:
        budget = (
            RedisBudget(redis_url, namespace=namespace, on_failure=on_failure, timeout=0.5)  # type: ignore[arg-type]
            if redis_url
            else None
        )
        retry = RetryConfig(attempts=50, timeout=None, max_retry_after=600)
        async with AsyncSalescaling(
            key, base_url=base_url, limits=RateLimits().scaled(SCALE), budget=budget, retry=retry
        ) as client:

            async def loop() -> None:
                while time.time() < until:
                    try:
                        await client.request("GET", "users", params={"limit": 1})
                    except Exception as exc:
                        out.put(("error", type(exc).__name__))
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(loop() for _ in range(TASKS)))
            out.put(("429", client.statistics().rate_limited))

    asyncio.run(main())


def _outsider(base_url: str, key: str, until: float, rate: float) -> None:
    import asyncio

    import aiohttp

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            while time.time() < until:
                async with session.get(base_url + "users", params={"limit": 1}, headers={"x-api-key": key}) as resp:
                    await resp.read()
                await asyncio.sleep(1.0 / rate)

    asyncio.run(main())


def _polite(base_url: str, key: str, until: float, rate: float, out: Any) -> None:
    """A client outside the fleet that stays within the limits by itself: ``rate`` requests/s,
    steady, obeying a 429's ``Retry-After*`` (whole seconds, divided by ``SCALE``)."""
    import asyncio

    import aiohttp

    async def main() -> None:
        rejected = 0
        async with aiohttp.ClientSession() as session:
            while time.time() < until:
                async with session.get(base_url + "users", params={"limit": 1}, headers={"x-api-key": key}) as resp:
                    await resp.read()
                    pause = 1.0 / rate
                    if resp.status == 429:
                        rejected += 1
                        hints = [
                            float(v) / SCALE for k, v in resp.headers.items() if k.lower().startswith("retry-after")
                        ]
                        pause = max([pause, *hints])
                await asyncio.sleep(pause)
        out.put(("outside", rejected))

    asyncio.run(main())


def _fleet(
    base_url: str,
    key: str,
    redis_url: str | None,
    processes: int,
    seconds: float,
    on_failure: str = "closed",
    during: Callable[[float], None] | None = None,
    polite: float = 0.0,
) -> dict[str, Any]:
    """``processes`` concurrent workers for ``seconds``; ``during(elapsed)`` is polled meanwhile;
    with ``polite`` a well-behaved client outside the fleet sends that many requests/s."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    namespace = uuid.uuid4().hex
    start = time.time()
    until = start + seconds
    procs = [
        ctx.Process(target=_worker, args=(redis_url, namespace, base_url, key, until, on_failure, out))
        for _ in range(processes)
    ]
    if polite:
        procs.append(ctx.Process(target=_polite, args=(base_url, key, until, polite, out)))
    for proc in procs:
        proc.start()
    while any(p.is_alive() for p in procs):
        if during is not None:
            during(time.time() - start)
        time.sleep(0.05)
    return _collect(out)


def _collect(out: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {"client 429s": 0, "outside 429s": 0, "errors": 0}
    while not out.empty():
        kind, value = out.get()
        if kind == "429":
            seen["client 429s"] += value
        elif kind == "outside":
            seen["outside 429s"] += value
        else:
            seen["errors"] += 1
    return seen


def _row(case: str, base_url: str, key: str, extra: dict[str, Any]) -> Row:
    server = _server_stats(base_url, key)
    ceiling = RateLimits().scaled(SCALE).ceiling(server["span"])
    return {
        "case": case,
        "accepted": server["accepted"],
        "span (s)": server["span"],
        "ceiling": ceiling,
        "accepted / ceiling": server["accepted"] / ceiling,
        "429s (server)": server["rejected"],
        **extra,
    }


def cold_start(base_url: str, key: str, runs: int = 4, seconds: float = 12.0, redis_url: str | None = None) -> Row:
    """Successive processes on one key, no pause between them; every other one SIGKILLed.

    Each runs longer than the long window (10 s scaled) and the next one is spawned early
    and released the moment the previous one ends, so it starts into full windows (real
    restarts take a second or two, little next to the real 60 s window).
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    namespace = uuid.uuid4().hex  # one log for every process of the run

    def spawn(killed: bool) -> tuple[Any, Any]:
        go = ctx.Event()
        run_for = seconds + (30 if killed else 0)  # a killed one would go on: SIGKILL stops it
        proc = ctx.Process(target=_worker, args=(redis_url, namespace, base_url, key, run_for, "closed", out, go))
        proc.start()
        return proc, go

    current = spawn(killed=True)
    current[1].set()
    for i in range(runs):
        proc, _go = current
        if i + 1 < runs:
            current = spawn(killed=(i + 1) % 2 == 0 and i + 1 < runs - 1)  # imports now, starts later
        if i % 2 == 0 and i < runs - 1:
            time.sleep(seconds)
            proc.kill()  # SIGKILL mid-run: its requests still sit in the server's windows
        proc.join()
        if i + 1 < runs:
            current[1].set()  # the next process starts at once, like a supervisor's restart
    # the survivors' runs end by themselves (``until``); the killed ones report nothing
    store = ", log on Redis" if redis_url else ""
    return _row(f"cold start: {runs} successive processes, every other SIGKILLed{store}", base_url, key, _collect(out))


def run(results: Path) -> str:
    rows = []
    keys = {name: SimKey() for name in ("cold", "cold-redis", "flush", "restart", "outside", "polite", "polite-local")}
    with simulator_process(time_scale=SCALE, records=5, keys=keys) as base_url:
        rows.append(cold_start(base_url, "cold"))

        redis = RedisServer()
        try:
            rows.append(cold_start(base_url, "cold-redis", redis_url=redis.url))
            flushed: list[float] = []

            def flush(elapsed: float) -> None:
                if elapsed > 8.0 and not flushed:
                    import redis as sync_redis

                    sync_redis.Redis.from_url(redis.url).flushall()
                    flushed.append(elapsed)

            rows.append(
                _row(
                    "Redis FLUSHALL mid-run, 4 x 25 tasks",
                    base_url,
                    "flush",
                    _fleet(base_url, "flush", redis.url, 4, 20.0, during=flush),
                )
            )

            events: list[str] = []

            def outage(elapsed: float) -> None:
                if elapsed > 8.0 and not events:
                    redis.kill()
                    events.append("down")
                elif elapsed > 11.0 and events == ["down"]:
                    redis.start()  # empty: no persistence
                    events.append("up")

            rows.append(
                _row(
                    "Redis killed 3 s, restarted empty, on_failure=local",
                    base_url,
                    "restart",
                    _fleet(base_url, "restart", redis.url, 4, 20.0, on_failure="local", during=outage),
                )
            )

            ctx = multiprocessing.get_context("spawn")
            outsider = ctx.Process(target=_outsider, args=(base_url, "outside", time.time() + 17.0, 0.25 * 20 * SCALE))
            outsider.start()
            rows.append(
                _row(
                    "2 fleet processes + a client outside the fleet",
                    base_url,
                    "outside",
                    _fleet(base_url, "outside", redis.url, 2, 15.0),
                )
            )
            outsider.join()
            polite = 3 * SCALE  # 3 requests per unscaled second: within every limit by itself
            rows.append(
                _row(
                    "2 fleet processes + a well-behaved client outside (3/s, obeys Retry-After)",
                    base_url,
                    "polite",
                    _fleet(base_url, "polite", redis.url, 2, 15.0, polite=polite),
                )
            )
            rows.append(
                _row(
                    "1 process (local budget) + the same outside client",
                    base_url,
                    "polite-local",
                    _fleet(base_url, "polite-local", None, 1, 15.0, polite=polite),
                )
            )
        finally:
            redis.kill()
    text = table(
        f"Fleets through restarts, Redis loss and outages (windows scaled x{SCALE:.0f}; 429s as counted "
        "by the server, the outside client's included)",
        rows,
    )
    (results / "fleet.md").write_text(text)
    return text


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
