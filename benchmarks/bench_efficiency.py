"""(a) Efficiency: accepted requests / ceiling over a saturating run, with latency jitter.

This SDK and a baseline a user might write (aiohttp + one aiolimiter AsyncLimiter per
window, sleeping ``Retry-After`` on a 429) run in the same simulator process, at the same
time, on two different keys.  Windows are scaled by 6 (20/0.167 s, 200/1.67 s, 1000/10 s)
and every response gets 0-50 ms of extra latency.  The run lasts three long windows.  Then the
blocking ``Salescaling`` client saturates a third key from 16 threads for as long.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import aiohttp
from aiolimiter import AsyncLimiter

from salescaling_async import AsyncSalescaling, RateLimits, Salescaling
from salescaling_async.testing import Fault, SimKey

from ._common import Row, simulator_process, table

SCALE = 6.0
DURATION = 30.0
TASKS = 100
THREADS = 16
KEYS = {"sdk-key": SimKey(), "baseline-key": SimKey(), "threads-key": SimKey()}
FAULTS = [Fault("latency", probability=1.0, jitter=0.05)]


async def _sdk(url: str, until: float, times: list[float]) -> dict[str, int]:
    limits = RateLimits().scaled(SCALE)
    async with AsyncSalescaling("sdk-key", base_url=url, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < until:
                await client.request("GET", "users", params={"limit": 1})
                times.append(time.monotonic())

        await asyncio.gather(*(worker() for _ in range(TASKS)))
        return {"429s": client.statistics().rate_limited}


async def _baseline(url: str, until: float, times: list[float]) -> dict[str, int]:
    limiters = [AsyncLimiter(w.limit, w.seconds) for w in RateLimits().scaled(SCALE)]
    seen = {"429s": 0}
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while time.monotonic() < until:
                async with limiters[0], limiters[1], limiters[2]:
                    async with session.get(
                        url + "users", params={"limit": 1}, headers={"x-api-key": "baseline-key"}
                    ) as resp:
                        await resp.read()
                if resp.status == 429:
                    seen["429s"] += 1
                    hint = max(
                        (float(v) for k, v in resp.headers.items() if k.lower().startswith("retry-after")), default=1.0
                    )
                    await asyncio.sleep(hint)
                elif resp.status == 200:
                    times.append(time.monotonic())

        await asyncio.gather(*(worker() for _ in range(TASKS)))
    return seen


async def _main(url: str) -> tuple[list[Row], dict[str, list[float]]]:
    start = time.monotonic()
    until = start + DURATION
    sdk_times: list[float] = []
    base_times: list[float] = []
    sdk, base = await asyncio.gather(_sdk(url, until, sdk_times), _baseline(url, until, base_times))
    ceiling = RateLimits().scaled(SCALE).ceiling(DURATION)
    rows = []
    for name, times, seen in (("salescaling-async", sdk_times, sdk), ("aiohttp + aiolimiter", base_times, base)):
        accepted = sum(1 for t in times if t <= until + 0.1)
        rows.append(
            {
                "client": name,
                "accepted": accepted,
                "ceiling": ceiling,
                "accepted / ceiling": accepted / ceiling,
                "429s": seen["429s"],
            }
        )
    series = {
        "salescaling-async": [t - start for t in sdk_times],
        "aiohttp + aiolimiter": [t - start for t in base_times],
    }
    return rows, series


def _threads(url: str) -> Row:
    """The blocking client from ``THREADS`` threads, one budget, saturating its own key."""
    times: list[float] = []
    lock = threading.Lock()
    with Salescaling("threads-key", base_url=url, limits=RateLimits().scaled(SCALE)) as client:
        until = time.monotonic() + DURATION

        def worker() -> None:
            while time.monotonic() < until:
                client.request("GET", "users", params={"limit": 1})
                with lock:
                    times.append(time.monotonic())

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rejected = client.statistics().rate_limited
    ceiling = RateLimits().scaled(SCALE).ceiling(DURATION)
    accepted = sum(1 for t in times if t <= until + 0.1)
    return {
        "client": f"blocking Salescaling, {THREADS} threads",
        "accepted": accepted,
        "ceiling": ceiling,
        "accepted / ceiling": accepted / ceiling,
        "429s": rejected,
    }


def plot(series: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    bin_s = 1.0
    for name, times in series.items():
        bins = [0] * int(DURATION / bin_s + 1)
        for t in times:
            if 0 <= t < DURATION:
                bins[int(t / bin_s)] += 1
        ax.step([i * bin_s for i in range(len(bins))], [b / bin_s for b in bins], where="post", label=name)
    for window, style in zip(RateLimits().scaled(SCALE), (":", "--", "-."), strict=True):
        ax.axhline(
            window.limit / window.seconds,
            linestyle=style,
            color="grey",
            label=f"{window.name}: {window.limit}/{window.seconds:.2f}s",
        )
    ax.set_xlabel("seconds (windows scaled x6)")
    ax.set_ylabel("accepted requests / s")
    ax.set_title("Saturating one key, 0-50 ms latency jitter")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(results: Path) -> str:
    with simulator_process(keys=KEYS, time_scale=SCALE, records=5, faults=FAULTS) as url:
        rows, series = asyncio.run(_main(url))
        rows.append(_threads(url))
    plot(series, results / "throughput.png")
    return table(f"(a) Efficiency over {DURATION:.0f} s, windows scaled x{SCALE:.0f}, 0-50 ms jitter", rows)


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
