"""Where the CPU of ``client.request()`` goes: its steps added one at a time over raw aiohttp.

    python -m benchmarks.attribute_request            (n = 24,000 per mode, 12 slices)
    python -m benchmarks.attribute_request -n 6000    (a smoke run)

A diagnostic beside :mod:`benchmarks.bench_overhead` (same server process, same 64 tasks,
same far-above limits), not part of ``run_all``: it answers which step of the pipeline the
gap to raw aiohttp comes from, with a real connection.  Every mode takes turns with raw
aiohttp in slices; each row is the median of the per-slice ratios to the raw slice before it.

1. ``AiohttpTransport.send`` + ``json.loads``: the transport alone.
2. + ``Scheduler.acquire`` / ``Permit.received``: the rate budget of the key.
3. + ``parse_response`` instead of ``json.loads``: strict decoding, the envelope.
4. ``client.request("GET", "contacts")``: the whole pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .bench_overhead import _client_kwargs, _Server, _spread

SLICES = 12


async def _modes(url: str, n: int) -> list[dict[str, Any]]:
    import aiohttp

    from salescaling_async import AsyncSalescaling, PoolLimits
    from salescaling_async._pipeline import adhoc_endpoint
    from salescaling_async._request import RawRequest
    from salescaling_async._responses import parse_response
    from salescaling_async._transport import AiohttpTransport

    contacts = url + "contacts"
    transport = AiohttpTransport(PoolLimits(max_connections=100))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as raw,
        AsyncSalescaling("bench-key-0", base_url=url, **_client_kwargs()) as client,
    ):
        pipeline = client._pipeline
        scheduler = pipeline.core.scheduler
        request = RawRequest("GET", contacts, pipeline.headers)
        endpoint, _ = adhoc_endpoint(url, "GET", "contacts", "")

        async def raw_call(_i: int) -> Any:
            async with raw.get(contacts, headers={"x-api-key": "bench-key-0"}) as resp:
                return await resp.json()

        async def transport_only(_i: int) -> Any:
            return json.loads((await transport.send(request)).body)

        async def with_budget(_i: int) -> Any:
            permit = await scheduler.acquire("bench-key-0")
            response = await transport.send(request)
            permit.received(response.header_map)
            return json.loads(response.body)

        async def with_parsing(_i: int) -> Any:
            permit = await scheduler.acquire("bench-key-0")
            response = await transport.send(request)
            permit.received(response.header_map)
            return parse_response(response, endpoint, wall_now=time.time(), secret="bench-key-0")

        modes: dict[str, Callable[[int], Awaitable[Any]]] = {
            "1. transport + json.loads": transport_only,
            "2. + scheduler acquire/received": with_budget,
            "3. + parse_response (instead of json.loads)": with_parsing,
            '4. client.request("GET", "contacts")': lambda _i: client.request("GET", "contacts"),
        }
        ratios: dict[str, list[float]] = {name: [] for name in modes}
        raws: list[float] = []
        try:
            for call in (raw_call, *modes.values()):
                await _spread(min(n, 1000), call)  # connections, caches, first-use paths
            for _ in range(SLICES):
                for name, call in modes.items():
                    base = await _spread(n // SLICES, raw_call)
                    raws.append(base)
                    ratios[name].append(await _spread(n // SLICES, call) / base)
        finally:
            await transport.aclose()
    raw_us = statistics.median(raws) * 1e6
    rows = [{"step": "raw aiohttp GET + json()", "CPU per request (µs)": round(raw_us), "vs raw aiohttp": "1.00x"}]
    for name, values in ratios.items():
        ratio = statistics.median(values)
        rows.append({"step": name, "CPU per request (µs)": round(raw_us * ratio), "vs raw aiohttp": f"{ratio:.2f}x"})
    return rows


def main() -> None:
    from ._common import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=24_000)
    args = parser.parse_args()
    with _Server() as url:
        rows = asyncio.run(_modes(url, args.n))
    print(table("client.request() step by step (median per-slice ratio to raw aiohttp)", rows))


if __name__ == "__main__":
    main()
