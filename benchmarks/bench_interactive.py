"""Interactive latency while a bulk job saturates the same key (issue 17), real windows.

One client per case on its own key, against the simulator in its own process at real time:
50 bulk tasks (``Priority.BULK``) saturate the key and one interactive request is made every
0.2 s.  Cases: the key idle (no bulk), and the bulk job with the interactive reserve off,
5 % (the default: 1 slot of the short window) and 25 % (5 slots per second: the interactive
rate).  Accepted / ceiling uses the ceiling of the run's length.

    python -m benchmarks.bench_interactive        # writes benchmarks/results/interactive.md
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

from salescaling_async import AsyncSalescaling, Priority, RateLimits
from salescaling_async._scheduler import Scheduler
from salescaling_async.testing import SimKey

from ._common import Row, simulator_process, table

SECONDS = 20.0
BULK_TASKS = 50


async def _case(url: str, key: str, reserve: float | None) -> Row:
    async with AsyncSalescaling(key, base_url=url) as client:
        # the reserve is a scheduler option; the client passes its own default through
        client._core.scheduler = Scheduler(RateLimits(), interactive_reserve=reserve or 0.0)
        until = time.monotonic() + SECONDS
        bulk_done = 0
        latencies: list[float] = []

        async def bulk() -> None:
            nonlocal bulk_done
            while time.monotonic() < until:
                await client.request("GET", "users", params={"limit": 1}, priority=Priority.BULK)
                bulk_done += 1

        async def interactive() -> None:
            await asyncio.sleep(2.0)  # let the bulk job reach saturation first
            while time.monotonic() < until:
                started = time.monotonic()
                await client.request("GET", "users", params={"limit": 1})
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.2)

        tasks = [bulk() for _ in range(BULK_TASKS if reserve is not None else 0)]
        await asyncio.gather(interactive(), *tasks)
        stats = client.statistics()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    ceiling = RateLimits().ceiling(SECONDS)
    return {
        "case": "key idle" if reserve is None else f"bulk job, reserve {reserve:.0%}",
        "interactive p50 (ms)": statistics.median(latencies) * 1000,
        "interactive p99 (ms)": p99 * 1000,
        "bulk accepted / ceiling": bulk_done / ceiling if reserve is not None else "-",
        "all accepted / ceiling": (bulk_done + len(latencies)) / ceiling if reserve is not None else "-",
        "429s": stats.rate_limited,
    }


def run(results: Path) -> str:
    cases: list[float | None] = [None, 0.0, 0.05, 0.25]
    keys = {f"key{i}": SimKey() for i in range(len(cases))}
    rows = []
    with simulator_process(records=5, keys=keys) as url:
        for key, reserve in zip(keys, cases, strict=True):
            rows.append(asyncio.run(_case(url, key, reserve)))
    text = table(
        f"Interactive requests under a saturating bulk job ({SECONDS:.0f} s per case, real windows, "
        f"{BULK_TASKS} bulk tasks, one interactive request every 0.2 s)",
        rows,
    )
    (results / "interactive.md").write_text(text)
    return text


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
