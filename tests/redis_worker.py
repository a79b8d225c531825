"""A worker process for the multi-process Redis budget test (importable for ``spawn``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


def run(url: str, namespace: str, base_url: str, key: str, scale: float, tasks: int, until: float) -> dict[str, Any]:
    """Saturate ``key`` with ``tasks`` concurrent loops until wall time ``until``."""
    from salescaling_async import AsyncSalescaling, RateLimits, RedisBudget

    async def main() -> dict[str, Any]:
        budget = RedisBudget(url, namespace=namespace)
        async with AsyncSalescaling(key, base_url=base_url, limits=RateLimits().scaled(scale), budget=budget) as c:

            async def loop() -> None:
                while time.time() < until:
                    await c.request("GET", "users", params={"limit": 1})

            await asyncio.gather(*(loop() for _ in range(tasks)))
            stats = c.statistics()
            scheduler: Any = c.scheduler
            return {
                "granted": stats.granted,
                "429": stats.rate_limited,
                "round_trips": scheduler.round_trips(stats.key),
            }

    return asyncio.run(main())
