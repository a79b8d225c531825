"""Redis budget: N processes x M tasks sharing one key, saturating, against the simulator."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from salescaling_async import RateLimits
from salescaling_async.testing import SimKey

from ._common import Row, redis_server, simulator_process, table

SCALE = 4.0  # the long window (1000/15 s) binds: see tests/test_redis.py
SECONDS = 20.0


def _worker(redis_url: str, namespace: str, base_url: str, key: str, tasks: int, until: float) -> dict[str, Any]:
    import asyncio

    from salescaling_async import AsyncSalescaling, RedisBudget

    async def main() -> dict[str, Any]:
        budget = RedisBudget(redis_url, namespace=namespace)
        async with AsyncSalescaling(key, base_url=base_url, limits=RateLimits().scaled(SCALE), budget=budget) as client:
            accepted = 0

            async def loop() -> None:
                nonlocal accepted
                while time.time() < until:
                    await client.request("GET", "users", params={"limit": 1})
                    accepted += 1

            await asyncio.gather(*(loop() for _ in range(tasks)))
            scheduler: Any = client.scheduler
            return {
                "accepted": accepted,
                "granted": client.statistics().granted,
                "429s": client.statistics().rate_limited,
                "round_trips": scheduler.round_trips(client._key_id),
            }

    return asyncio.run(main())


def _server_stats(base_url: str, key: str) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(base_url.replace("/api/v1/", "/_simulator/stats")) as resp:
        stats: dict[str, Any] = json.load(resp)[key]
    return stats


def _case(redis_url: str, base_url: str, key: str, processes: int, tasks: int) -> Row:
    namespace = uuid.uuid4().hex
    start = time.time()
    until = start + SECONDS
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = [
            f.result()
            for f in [pool.submit(_worker, redis_url, namespace, base_url, key, tasks, until) for _ in range(processes)]
        ]
    granted = sum(r["granted"] for r in results)
    server = _server_stats(base_url, key)
    accepted = server["accepted"]
    # the span between the first and the last request the server accepted: process start-up is not counted
    ceiling = RateLimits().scaled(SCALE).ceiling(server["span"])
    return {
        "processes x tasks": f"{processes} x {tasks}",
        "accepted": accepted,
        "span (s)": server["span"],
        "ceiling": ceiling,
        "accepted / ceiling": accepted / ceiling,
        "429s": server["rejected"],
        "redis acquire calls / grant": sum(r["round_trips"] for r in results) / max(granted, 1),
    }


def run(results: Path) -> str:
    rows = []
    cases = [(1, 16), (4, 8)]
    keys = {f"key{i}": SimKey() for i in range(len(cases))}
    with redis_server() as redis_url, simulator_process(time_scale=SCALE, records=5, keys=keys) as base_url:
        for key, (processes, tasks) in zip(keys, cases, strict=True):
            rows.append(_case(redis_url, base_url, key, processes, tasks))
    return table(
        f"Redis shared budget, {SECONDS:.0f} s runs, windows scaled x{SCALE:.0f} (429s as counted by the server)", rows
    )


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
