"""Worker processes for the fleet tests and benchmarks (importable for ``spawn``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


def saturate(
    redis_url: str | None,
    namespace: str,
    base_url: str,
    keys: list[str],
    scale: float,
    tasks: int,
    until: float,
    *,
    cluster: bool = False,
    on_failure: str = "closed",
    fallback_fraction: float = 0.25,
    go: Any = None,
) -> dict[str, Any]:
    """Saturate every key in ``keys`` with ``tasks`` loops each until wall time ``until``.

    ``redis_url=None`` keeps the budget in the process.  With ``go`` (an event), the process
    imports everything, waits for it, then runs for ``until`` seconds: a restart without the
    interpreter's start-up gap.  Returns the 429s this process saw and the requests it
    completed.
    """
    from salescaling_async import AsyncSalescaling, RateLimits, RedisBudget, RetryConfig

    if go is not None:
        go.wait()
        until = time.time() + until
    extra = {"cluster": True} if cluster else {}

    async def main() -> dict[str, Any]:
        budget = (
            RedisBudget(
                redis_url,
                namespace=namespace,
                on_failure=on_failure,  # type: ignore[arg-type]
                fallback_fraction=fallback_fraction,
                timeout=5.0,
                **extra,
            )
            if redis_url
            else None
        )
        retry = RetryConfig(attempts=20, timeout=None)
        async with AsyncSalescaling(
            keys[0], base_url=base_url, limits=RateLimits().scaled(scale), budget=budget, retry=retry
        ) as client:
            done = 0
            views = [client.with_key(k) for k in keys]

            async def loop(view: AsyncSalescaling) -> None:
                nonlocal done
                while time.time() < until:
                    await view.request("GET", "users", params={"limit": 1})
                    done += 1

            await asyncio.gather(*(loop(v) for v in views for _ in range(tasks)))
            rate_limited = sum(v.statistics().rate_limited for v in views)
            return {"done": done, "429": rate_limited}

    return asyncio.run(main())


def outside(base_url: str, key: str, rate: float, until: float, scale: float = 1.0) -> dict[str, int]:
    """A well-behaved client outside the fleet: plain aiohttp, ``rate`` requests/s, steady.

    It stays within the limits by itself and obeys a 429's hints (the simulator sends whole
    seconds rounded up; they are divided by ``scale`` as its windows are), so any 429 the
    fleet earns is the fleet's doing.  Runs until wall time ``until``; returns the requests
    it sent and the 429s it got.
    """
    import aiohttp

    async def main() -> dict[str, int]:
        sent = rejected = 0
        async with aiohttp.ClientSession() as session:
            while time.time() < until:
                async with session.get(
                    base_url.rstrip("/") + "/users", params={"limit": "1"}, headers={"x-api-key": key}
                ) as resp:
                    await resp.read()
                    sent += 1
                    pause = 1.0 / rate
                    if resp.status == 429:
                        rejected += 1
                        hints = [float(v) for k, v in resp.headers.items() if k.lower().startswith("retry-after")]
                        pause = max([pause, *(h / scale for h in hints)])
                await asyncio.sleep(pause)
        return {"sent": sent, "429": rejected}

    return asyncio.run(main())
