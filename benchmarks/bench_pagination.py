"""Pagination over 100,000 records: peak traced memory stays flat as records stream."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path

from salescaling_async import AsyncSalescaling, RateLimits, Window

from ._common import Row, simulator_process, table

RECORDS = 100_000


async def _main(url: str) -> list[Row]:
    limits = RateLimits((Window("none", 10**9, 1.0),))
    rows: list[Row] = []
    async with AsyncSalescaling("sk_test_simulator", base_url=url, limits=limits) as client:
        tracemalloc.start()
        start = time.perf_counter()
        count = 0
        async for _contact in client.contacts.list(page_size=1000, prefetch=2):
            count += 1
            if count in (10_000, 50_000, 100_000):
                current, peak = tracemalloc.get_traced_memory()
                rows.append(
                    {
                        "records streamed": count,
                        "traced now (KiB)": current / 1024,
                        "traced peak (KiB)": peak / 1024,
                        "elapsed (s)": time.perf_counter() - start,
                    }
                )
        tracemalloc.stop()
    assert count == RECORDS, count
    return rows


def run(results: Path) -> str:
    with simulator_process(records={"contacts": RECORDS}, limits=None) as url:
        rows = asyncio.run(_main(url))
    return table(f"Pagination memory over {RECORDS:,} records (page size 1000, prefetch 2)", rows)


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
