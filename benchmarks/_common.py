"""Shared helpers of the benchmarks: a simulator in its own process, a Redis server, tables."""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

Row = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, kwargs: dict[str, Any], ready: Any) -> None:
    import asyncio

    from salescaling_async.testing import Simulator

    async def main() -> None:
        async with Simulator(port=port, **kwargs):
            ready.set()
            await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def simulator_process(**kwargs: Any) -> Iterator[str]:
    """Run a Simulator in another process (so it does not share our CPU time slice); yield its URL."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    proc = ctx.Process(target=_serve, args=(port, kwargs, ready), daemon=True)
    proc.start()
    if not ready.wait(60):
        raise RuntimeError("simulator did not start")
    try:
        yield f"http://127.0.0.1:{port}/api/v1/"
    finally:
        proc.terminate()
        proc.join(10)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


def table(title: str, rows: list[Row]) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys)."""
    if not rows:
        return f"### {title}\n\n(no rows)\n"
    keys = list(rows[0])
    lines = [f"### {title}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row[k]) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
