"""The web integrations under real servers in subprocesses: uvicorn (FastAPI) and aiohttp.

Overload with clients that give up, SIGTERM under load, several uvicorn workers sharing the
key through Redis, mounted sub-apps and a missing lifespan.  Every check is about outcomes
(statuses, counts, log lines), never about speed; latency figures live in
``benchmarks/bench_webapp.py``.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from salescaling_async.testing import Fault, Simulator

ROOT = Path(__file__).parent.parent
SECRET = "a-long-enough-webhook-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _uvicorn(target: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        *extra,
    ]


COMMANDS = {
    "fastapi": _uvicorn("examples.fastapi_app:app", "--timeout-graceful-shutdown", "8"),
    "aiohttp": [sys.executable, "examples/aiohttp_app.py", "--port", "{port}"],
}


class Server:
    """A server subprocess on a free port.  Its stderr goes to a file (an unread pipe would
    fill up and block the server's event loop); ``stderr`` holds it once the server exited."""

    def __init__(self, proc: asyncio.subprocess.Process, base: str, log: Any) -> None:
        self.proc = proc
        self.base = base
        self.log = log
        self.stderr = ""

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"the server did not exit within {timeout}s:\n{self._read()[-3000:]}") from None
        self.stderr = self._read()
        return self.proc.returncode or 0

    def _read(self) -> str:
        self.log.seek(0)
        return str(self.log.read().decode(errors="replace"))


@asynccontextmanager
async def run_server(cmd: list[str], env: dict[str, str], ready: str = "/health") -> AsyncIterator[Server]:
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            *[part.replace("{port}", str(port)) for part in cmd],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
        server = Server(proc, f"http://127.0.0.1:{port}", log)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(600):
                    if proc.returncode is not None:
                        break
                    try:
                        async with http.get(server.base + ready) as resp:
                            if resp.status < 500:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the server did not start")
            yield server
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def _env(sim: Simulator, **extra: str) -> dict[str, str]:
    return {"SALESCALING_API_KEY": sim.api_key, "SALESCALING_BASE_URL": sim.url, "WEBHOOK_SECRET": SECRET, **extra}


async def _load(
    base: str, *, clients: int, rounds: int, patience: tuple[float, ...], pause: float = 0.1
) -> collections.Counter[Any]:
    """``clients`` concurrent users, each making ``rounds`` requests (pausing ``pause`` s after
    a 503) and giving up after its ``patience`` seconds (closing the connection); users take
    the patiences in turn.  Returns outcome counts; 503s are keyed with whether they carried
    Retry-After."""
    outcomes: collections.Counter[Any] = collections.Counter()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one() -> None:
            async with http.get(f"{base}/contacts", params={"limit": "2"}) as resp:
                await resp.read()
                if resp.status == 503:
                    outcomes[(503, "Retry-After" in resp.headers)] += 1
                    await asyncio.sleep(pause)
                else:
                    outcomes[resp.status] += 1

        async def user(patience: float) -> None:
            for _ in range(rounds):
                try:
                    await asyncio.wait_for(one(), patience)
                except asyncio.TimeoutError:
                    outcomes["gave_up"] += 1
                except aiohttp.ClientError as exc:
                    outcomes[type(exc).__name__] += 1

        await asyncio.gather(*(user(patience[i % len(patience)]) for i in range(clients)))
    return outcomes


@pytest.mark.parametrize("app", list(COMMANDS))
async def test_overload_sheds_instead_of_queueing(app: str) -> None:
    """100 users against a key allowing 20 requests/s, half of them giving up after 0.5 s
    (less than the 1 s queue deadline): no 500s, the overflow is 503 with Retry-After, 0
    upstream 429s, and nearly every upstream call's answer reaches a user (the issue measured
    440 calls for 60 answers before)."""
    async with Simulator(records={"contacts": 20}) as sim:
        async with run_server(COMMANDS[app], _env(sim, SALESCALING_DEADLINE="1")) as server:
            outcomes = await _load(server.base, clients=100, rounds=8, patience=(0.5, 3.0))
            async with aiohttp.ClientSession() as http, http.get(server.base + "/health") as resp:
                assert resp.status == 200
            await server.stop()
        upstream = sim.stats().accepted
    delivered = outcomes[200]
    assert not [k for k in outcomes if isinstance(k, int) and k >= 500], outcomes
    assert outcomes[(503, True)] > 0 and outcomes[(503, False)] == 0, outcomes
    assert delivered > 0 and sim.stats().rejected == 0
    assert upstream <= delivered * 2 + 10, (upstream, outcomes)  # the issue measured 7.3x; the race of a
    # grant with a user giving up 0.5 s in costs a few calls on a loaded machine
    assert "Traceback" not in server.stderr, server.stderr[-3000:]


@pytest.mark.parametrize("app", list(COMMANDS))
async def test_sigterm_under_load_exits_cleanly(app: str) -> None:
    """SIGTERM while 100 requests are queued or in flight (upstream latency 0.3 s): the server
    exits cleanly within its grace period, with no destroyed tasks and no traceback."""
    async with Simulator(records={"contacts": 20}, faults=[Fault("latency", probability=1.0, latency=0.3)]) as sim:
        async with run_server(COMMANDS[app], _env(sim)) as server:
            load = asyncio.ensure_future(_load(server.base, clients=100, rounds=50, patience=(30.0,)))
            for _ in range(400):
                await asyncio.sleep(0.05)
                if sim.stats().accepted >= 20:
                    break
            code = await server.stop(signal.SIGTERM, timeout=30.0)  # grace: 8 s uvicorn, 20 s aiohttp
            outcomes = await load
    assert code in (0, -signal.SIGTERM), server.stderr[-3000:]  # uvicorn re-raises the signal it handled
    assert "Task was destroyed" not in server.stderr and "Traceback" not in server.stderr, server.stderr[-3000:]
    assert outcomes[500] == 0, outcomes


@pytest.mark.redis
async def test_uvicorn_workers_share_the_key_through_redis(redis_url: str) -> None:
    """uvicorn --workers 4 with SALESCALING_REDIS_URL: four processes, one key, 0 upstream 429s."""
    cmd = _uvicorn("examples.fastapi_app:app", "--workers", "4")
    async with Simulator(records={"contacts": 20}) as sim:
        async with run_server(cmd, _env(sim, SALESCALING_REDIS_URL=redis_url, SALESCALING_DEADLINE="3")) as server:
            outcomes = await _load(server.base, clients=120, rounds=3, patience=(20.0,))
            await server.stop()
        stats = sim.stats()
    assert stats.rejected == 0, (stats, outcomes)
    assert outcomes[200] > 20 and outcomes[500] == 0, outcomes


async def test_mounted_sub_app_under_uvicorn() -> None:
    """A handler in a mounted sub-app gets the client of the app uvicorn runs."""
    async with Simulator(records={"contacts": 20}) as sim:
        async with run_server(_uvicorn("tests.web_apps:mounted", "--factory"), _env(sim), ready="/docs") as server:
            async with aiohttp.ClientSession() as http, http.get(server.base + "/sub/contacts") as resp:
                assert resp.status == 200 and len(await resp.json()) == 2
            await server.stop()


async def test_missing_lifespan_under_uvicorn() -> None:
    """install() on a sub-app only: a JSON 500, and one log line naming install(), no traceback."""
    cmd = _uvicorn("tests.web_apps:installed_on_sub_app_only", "--factory")
    async with Simulator(records={"contacts": 20}) as sim:
        async with run_server(cmd, _env(sim), ready="/docs") as server:
            async with aiohttp.ClientSession() as http, http.get(server.base + "/sub/contacts") as resp:
                assert resp.status == 500 and (await resp.json())["error"] == "internal_error"
            await server.stop()
    assert "install(app)" in server.stderr and "Traceback" not in server.stderr, server.stderr


@pytest.mark.parametrize("app", list(COMMANDS))
async def test_example_refuses_to_start_without_a_webhook_secret(app: str) -> None:
    """No WEBHOOK_SECRET (or a short one): the example exits at once with a one-line reason."""
    for secret in ("", "short"):
        env = {k: v for k, v in os.environ.items() if k != "WEBHOOK_SECRET"}
        cmd = [part.replace("{port}", str(_free_port())) for part in COMMANDS[app]]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            cwd=ROOT,
            env={
                **env,
                "PYTHONPATH": str(ROOT),
                "WEBHOOK_SECRET": secret,
                "SALESCALING_API_KEY": "sk_test_" + "x" * 24,
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode != 0 and b"WEBHOOK_SECRET" in err, err
