"""``create_many`` over 100,000 items from a generator: client memory stays flat.

The items come from a generator and the results are counted and dropped, as a sync job
would do.  Peak traced memory (tracemalloc, client process only; the simulator runs in its
own process) is sampled at 10,000, 50,000 and 100,000 items: a flat engine shows the same
peak at every sample, whatever the number of items.

    python -m benchmarks.bench_bulk        (writes benchmarks/results/bulk.md)
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
                rows.append({"concurrency": concurrency, "items created": done, "traced now (KiB)": current / 1024,
                             "traced peak (KiB)": peak / 1024, "items/s": done / elapsed})  # fmt: skip
        tracemalloc.stop()
    assert statuses == {"created": ITEMS}, statuses
    return rows


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
    results.mkdir(exist_ok=True)
    (results / "bulk.md").write_text(section)
    return section


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
