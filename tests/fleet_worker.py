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
