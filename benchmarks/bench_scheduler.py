"""(b) Scheduler overhead per grant with free budget, vs an aiolimiter chain; (c) wake-ups per
grant with 10,000 waiters on one key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiolimiter import AsyncLimiter

from salescaling_async import RateLimits, Window
from salescaling_async._scheduler import Scheduler
from salescaling_async.testing import FakeClock

from ._common import Row, table

GRANTS = 50_000


FAR = RateLimits((Window("short", 10**9, 1.0), Window("medium", 10**9, 10.0), Window("long", 10**9, 60.0)))

HEADERS = {  # what a response of the real API carries: three windows' counts, and a few others
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": "2048",
    "Date": "Sun, 29 Nov 2026 15:00:00 GMT",
    **{
        f"X-RateLimit-{field}-{name}": value
        for name, reset in (("short", "1"), ("medium", "10"), ("long", "60"))
        for field, value in (("Limit", str(10**9)), ("Remaining", str(10**9 - 10)), ("Reset", reset))
    },
}


async def _ours(headers: dict[str, str] | None = None) -> float:
    sched = Scheduler(FAR)
    start = time.perf_counter()
    for _ in range(GRANTS):
        (await sched.acquire("k")).received(headers)
    return (time.perf_counter() - start) / GRANTS * 1e6


async def _aiolimiter() -> float:
    limiters = [AsyncLimiter(10**9, 1.0), AsyncLimiter(10**9, 10.0), AsyncLimiter(10**9, 60.0)]
    start = time.perf_counter()
    for _ in range(GRANTS):
        async with limiters[0], limiters[1], limiters[2]:
            pass
    return (time.perf_counter() - start) / GRANTS * 1e6


async def _wakeups() -> Row:
    clock = FakeClock()
    sched = Scheduler(RateLimits().scaled(1), clock=clock)
    done = 0

    async def worker() -> None:
        nonlocal done
        (await sched.acquire("k")).received()
        done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(10_000)]
    for _ in range(3):
        await asyncio.sleep(0)
    fired_before, granted_before = clock.fired, done
    while done < 10_000:
        due = clock.next_due()
        assert due is not None
        clock.advance(due - clock.now())
        for _ in range(2):
            await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    grants = 10_000 - granted_before
    return {
        "waiters": 10_000,
        "grants while queued": grants,
        "timer wake-ups": clock.fired - fired_before,
        "wake-ups per grant": (clock.fired - fired_before) / grants,
        "virtual seconds": clock.now() - 1000.0,
    }


def run(results: Path) -> str:
    ours = asyncio.run(_ours())
    with_headers = asyncio.run(_ours(HEADERS))
    theirs = asyncio.run(_aiolimiter())
    overhead = [
        {"scheduler": "salescaling-async (3 windows, response-anchored log)", "µs per grant": ours},
        {
            "scheduler": "the same, each response carrying the three windows' X-RateLimit-* headers",
            "µs per grant": with_headers,
        },
        {"scheduler": "aiolimiter chain (3 AsyncLimiters)", "µs per grant": theirs},
    ]
    wake = asyncio.run(_wakeups())
    return (
        table(f"(b) Overhead per grant with free budget ({GRANTS:,} grants)", overhead)
        + "\n"
        + table("(c) Wake-ups with 10,000 waiters on one key (real limits, fake clock)", [wake])
    )


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
