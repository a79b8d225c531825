"""``create_many``: client memory stays flat over 100,000 items, and a run sits at the ceiling.

The items come from a generator and the results are counted and dropped, as a sync job
would do.  Peak traced memory (tracemalloc, client process only; the simulator runs in its
own process) is sampled at 10,000, 50,000 and 100,000 items: a flat engine shows the same
peak at every sample, whatever the number of items.

The second section runs 1,500 creates against the simulator's real throttler (windows
scaled x10) and compares the requests sent with the most the key's windows allow in the
same time (``RateLimits.ceiling``), with the number of 429s.

    python -m benchmarks.bench_bulk            (both sections; writes benchmarks/results/bulk.md)
    python -m benchmarks.bench_bulk ceiling    (the second section only, printed)
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from salescaling_async import AsyncSalescaling, RateLimits, Window
from salescaling_async.models import ContactCreate

from ._common import Row, simulator_process, table

ITEMS = 100_000
SAMPLES = (10_000, 50_000, 100_000)
CEILING_ITEMS = 1_500
CEILING_SCALE = 10.0
CONCURRENCY = (8, 32)


def _items(n: int) -> Iterator[ContactCreate]:
    for i in range(n):
        yield ContactCreate(first_name=f"F{i}", last_name="Bench", extra={"email": f"bench.{i}@example.test"})


async def _main(url: str, concurrency: int) -> list[Row]:
    limits = RateLimits((Window("none", 10**9, 1.0),))
    rows: list[Row] = []
    statuses: Counter[str] = Counter()
    async with AsyncSalescaling("sk_test_simulator", base_url=url, limits=limits) as client:
        tracemalloc.start()
        start = time.perf_counter()
        done = 0
        async for result in client.contacts.create_many(_items(ITEMS), concurrency=concurrency):
            statuses[result.status] += 1
            done += 1
            if done % 10_000 == 0:
                print(f"  {done:,} items", file=sys.stderr, flush=True)
            if done in SAMPLES:
                current, peak = tracemalloc.get_traced_memory()
                elapsed = time.perf_counter() - start
                rows.append(
                    {
                        "concurrency": concurrency,
                        "items created": done,
                        "traced now (KiB)": current / 1024,
                        "traced peak (KiB)": peak / 1024,
                        "items/s": done / elapsed,
                    }
                )
        tracemalloc.stop()
    assert statuses == {"created": ITEMS}, statuses
    return rows


async def _at_ceiling(url: str, concurrency: int) -> Row:
    limits = RateLimits().scaled(CEILING_SCALE)
    events: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    async with AsyncSalescaling(
        "sk_test_simulator", base_url=url, limits=limits, on_event=lambda e: events.update([type(e).__name__])
    ) as client:
        start = time.perf_counter()
        async for result in client.contacts.create_many(_items(CEILING_ITEMS), concurrency=concurrency):
            statuses[result.status] += 1
        elapsed = time.perf_counter() - start
    assert statuses == {"created": CEILING_ITEMS}, statuses
    allowed = limits.ceiling(elapsed)
    return {
        "concurrency": concurrency,
        "creates": CEILING_ITEMS,
        "elapsed (s)": elapsed,
        "allowed in that time": allowed,
        "sent / allowed": CEILING_ITEMS / allowed,
        "429s": events["RateLimitHit"],
    }


def ceiling_section() -> str:
    rows = []
    for concurrency in (8, 32):
        with simulator_process(records=0, time_scale=CEILING_SCALE) as url:
            rows.append(asyncio.run(_at_ceiling(url, concurrency)))
    return table(
        f"create_many at the key's ceiling: {CEILING_ITEMS:,} creates, windows scaled x{CEILING_SCALE:.0f}", rows
    )


def run(results: Path) -> str:
    rows: list[Row] = []
    for concurrency in CONCURRENCY:
        with simulator_process(records=0, limits=None) as url:
            rows += asyncio.run(_main(url, concurrency))
    by = {(r["concurrency"], r["items created"]): r["traced peak (KiB)"] for r in rows}
    ratios = ", ".join(f"concurrency {c}: {by[(c, SAMPLES[-1])] / by[(c, SAMPLES[0])]:.2f}" for c in CONCURRENCY)
    section = table(f"create_many memory over {ITEMS:,} items from a generator", rows) + (
        f"\nPeak traced memory at {SAMPLES[-1]:,} items / at {SAMPLES[0]:,} items ({ratios}): "
        "1.00 means flat.  Throughput here is bound by the shared 2-core machine (client and "
        "simulator, no rate limit), not by the engine.\n"
    )
    section += "\n" + ceiling_section()
    results.mkdir(exist_ok=True)
    (results / "bulk.md").write_text(section)
    return section


if __name__ == "__main__":
    print(ceiling_section() if sys.argv[1:] == ["ceiling"] else run(Path(__file__).parent / "results"))
