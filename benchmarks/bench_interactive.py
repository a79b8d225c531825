"""Interactive latency while a bulk job saturates the same key (issue 17), real windows.

One client per case on its own key, against the simulator in its own process at real time:
50 bulk tasks (``Priority.BULK``) saturate the key and one interactive request is made every
0.2 s.  Cases: the key idle (no bulk), and the bulk job with the interactive reserve off or
5 % (the default: 1 slot of the short window, 50 of the long one), bulk bursting
(``bulk_pacing=False``) or paced (the default).  The bulk cases run 90 s, so the long
window (1000/60 s) fills and frees within the run: a shorter run never sees it bind.
Accepted / ceiling uses the ceiling of the run's length (starting cold).

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

IDLE_SECONDS = 20.0
SECONDS = 90.0
BULK_TASKS = 50


async def _case(url: str, key: str, reserve: float | None, pacing: bool) -> Row:
    seconds = IDLE_SECONDS if reserve is None else SECONDS
    async with AsyncSalescaling(key, base_url=url) as client:
        # the reserve and pacing are scheduler options; the client passes its defaults through
        client._core.scheduler = Scheduler(RateLimits(), interactive_reserve=reserve or 0.0, bulk_pacing=pacing)
        until = time.monotonic() + seconds
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
    ceiling = RateLimits().ceiling(seconds)
    return {
        "case": "key idle"
        if reserve is None
        else f"bulk job, reserve {reserve:.0%}, bulk {'paced' if pacing else 'bursting'}",
        "s": seconds,
        "interactive requests": len(latencies),
        "interactive p50 (ms)": statistics.median(latencies) * 1000,
        "interactive p99 (ms)": p99 * 1000,
        "interactive max (ms)": latencies[-1] * 1000,
        "bulk accepted / ceiling": bulk_done / ceiling if reserve is not None else "-",
        "all accepted / ceiling": (bulk_done + len(latencies)) / ceiling if reserve is not None else "-",
        "429s": stats.rate_limited,
    }


def run(results: Path) -> str:
    cases: list[tuple[float | None, bool]] = [(None, True), (0.0, False), (0.05, False), (0.0, True), (0.05, True)]
    keys = {f"key{i}": SimKey() for i in range(len(cases))}
    rows = []
    with simulator_process(records=5, keys=keys) as url:
        for key, (reserve, pacing) in zip(keys, cases, strict=True):
            rows.append(asyncio.run(_case(url, key, reserve, pacing)))
    text = table(
        f"Interactive requests under a saturating bulk job (real windows, {BULK_TASKS} bulk tasks, "
        "one interactive request every 0.2 s from the 2nd second on)",
        rows,
    )
    (results / "interactive.md").write_text(text)
    return text


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
