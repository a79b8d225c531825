"""Peak RSS of a client receiving hostile bodies: 200 MB streamed, 1 MB gzip inflating to 1 GiB.

Each client runs in a fresh process (``ru_maxrss`` is a high-water mark), against a server
in another process, so each figure is one client's own peak.

    python -m benchmarks.bench_response_limits
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import zlib
from pathlib import Path
from typing import Any

from ._common import Row, free_port, table

MiB = 1024 * 1024


def _bomb() -> bytes:
    """16 gzip members of 64 MiB of zeros: about 1 MB inflating to 1 GiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = b"".join(compressor.compress(bytes(MiB)) for _ in range(64)) + compressor.flush()
    return member * 16


def _serve(port: int, ready: Any) -> None:
    from aiohttp import web

    bomb = _bomb()
    chunk = b"x" * (256 * 1024)

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(200 * MiB // len(chunk)):
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def gzip_bomb(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async def small(request: web.Request) -> web.Response:
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/huge", huge)
        app.router.add_get("/bomb", gzip_bomb)
        app.router.add_get("/small", small)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _client(url: str, path: str, limit: int, out: Any) -> None:
    from salescaling_async import AsyncSalescaling, ResponseLimits, SalescalingError

    async def main() -> tuple[str, float, float]:
        async with AsyncSalescaling("k", base_url=url, response_limits=ResponseLimits(max_body_bytes=limit)) as c:
            await c.request("GET", "small")  # imports and pool warm: the baseline
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            try:
                await c.request("GET", path)
                outcome = "ok"
            except SalescalingError as exc:
                outcome = type(exc).__name__
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return outcome, before, peak

    out.put(asyncio.run(main()))


def run(results: Path) -> str:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    server = ctx.Process(target=_serve, args=(port, ready), daemon=True)
    server.start()
    rows: list[Row] = []
    try:
        if not ready.wait(120):
            raise RuntimeError("server did not start")
        url = f"http://127.0.0.1:{port}/"
        for path, body, limit in [
            ("huge", "200 MB chunked", 16 * MiB),
            ("bomb", "1 MB gzip -> 1 GiB", 16 * MiB),
            ("bomb", "1 MB gzip -> 1 GiB", 64 * MiB),
        ]:
            out = ctx.Queue()
            client = ctx.Process(target=_client, args=(url, path, limit, out))
            client.start()
            outcome, before, peak = out.get(timeout=300)
            client.join(30)
            rows.append(
                {
                    "body": body,
                    "limit (MiB)": limit // MiB,
                    "outcome": outcome,
                    "RSS before (MiB)": before,
                    "peak RSS (MiB)": peak,
                    "growth (MiB)": peak - before,
                }
            )
    finally:
        server.terminate()
        server.join(10)
    section = table("Response size limit: peak RSS of one client process", rows)
    (results / "response_limits.md").write_text(section)
    return section


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
