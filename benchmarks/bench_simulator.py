"""Simulator throughput with limits off: it must never be our benchmarks' bottleneck."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from ._common import Row, simulator_process, table

SECONDS = 5.0
CONCURRENCY = 64


async def _main(url: str) -> Row:
    count = 0
    until = time.monotonic() + SECONDS
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal count
            while time.monotonic() < until:
                async with http.get(
                    url + "users", params={"limit": "1"}, headers={"x-api-key": "sk_test_simulator"}
                ) as resp:
                    await resp.read()
                    assert resp.status == 200
                count += 1

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - start
    return {"requests": count, "seconds": elapsed, "requests / s": count / elapsed, "target": ">= 2,000"}


def run(results: Path) -> str:
    with simulator_process(records=10, limits=None) as url:
        row = asyncio.run(_main(url))
    return table("Simulator throughput, limits off (client and server on one 2-core machine)", [row])


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
