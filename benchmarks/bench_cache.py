"""Caching: a read workload that repeats itself costs a fraction of the requests and time.

2,000 ``contacts.get`` calls over 200 distinct ids (uniform, seeded), 16 concurrent tasks, the
published limits scaled 20x on both sides.  Figures are ratios within one run.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from pathlib import Path
from typing import Any

from salescaling_async import AsyncSalescaling, MemoryCache, RateLimits, RedisCache

from ._common import Row, redis_server, simulator_process, table

SCALE = 20.0
CALLS = 2_000
DISTINCT = 200
TASKS = 16


async def _workload(url: str, cache: Any) -> Row:
    limits = RateLimits().scaled(SCALE)
    async with AsyncSalescaling("sk_test_simulator", base_url=url, limits=limits, cache=cache) as client:
        ids = [
            c.id for c in (await client.with_options(cache=False).contacts.list(page_size=DISTINCT).first_page()).items
        ]
        rng = random.Random(0)
        plan = [rng.choice(ids) for _ in range(CALLS)]
        before = client.statistics().granted
        start = time.perf_counter()

        async def worker(mine: list[Any]) -> None:
            for contact_id in mine:
                await client.contacts.get(contact_id)

        await asyncio.gather(*(worker(plan[i::TASKS]) for i in range(TASKS)))
        elapsed = time.perf_counter() - start
        sent = client.statistics().granted - before
    return {"requests sent": sent, "elapsed (s)": elapsed}


async def _with_cache(url: str, kind: str, redis_url: str | None) -> Row:
    if kind == "RedisCache(ttl=60)":
        async with RedisCache(redis_url or "", ttl=60, namespace="bench:cache:") as cache:
            return {"cache": kind, **await _workload(url, cache)}
    return {"cache": kind, **await _workload(url, MemoryCache(ttl=60) if kind.startswith("Memory") else None)}


def _rows(redis_url: str | None) -> list[Row]:
    kinds = ["none", "MemoryCache(ttl=60)"] + (["RedisCache(ttl=60)"] if redis_url else [])
    rows = []
    for kind in kinds:  # a fresh simulator each: no run inherits another's spent windows
        with simulator_process(records={"contacts": DISTINCT}, time_scale=SCALE) as url:
            rows.append(asyncio.run(_with_cache(url, kind, redis_url)))
    for row in rows:
        row["time vs none"] = row["elapsed (s)"] / rows[0]["elapsed (s)"]
    return rows


def run(results: Path) -> str:
    if shutil.which("redis-server") is None:  # memory only
        rows = _rows(None)
    else:
        with redis_server() as redis_url:
            rows = _rows(redis_url)
    section = table(f"Caching: {CALLS:,} gets over {DISTINCT} ids, {TASKS} tasks, limits scaled {SCALE:g}x", rows)
    (results / "cache.md").write_text(section + "\n")
    return section


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
