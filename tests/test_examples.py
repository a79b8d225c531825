"""The example apps under real server processes, making concurrent calls through one client."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from salescaling_async.testing import Simulator

from .redis_server import free_port

ROOT = Path(__file__).parent.parent


COMMANDS = {
    "fastapi": [
        sys.executable,
        "-m",
        "uvicorn",
        "examples.fastapi_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
    ],
    "aiohttp": [sys.executable, "examples/aiohttp_app.py", "--port", "{port}"],
}


@pytest.mark.parametrize("app", list(COMMANDS))
async def test_example_app_serves_concurrent_requests(app: str) -> None:
    """40 concurrent requests to the app share its one client: all succeed, zero 429s upstream."""
    async with Simulator(records={"contacts": 20}) as sim:
        port = free_port()
        env = {
            **os.environ,
            "SALESCALING_API_KEY": sim.api_key,
            "SALESCALING_BASE_URL": sim.url,
            "WEBHOOK_SECRET": "a-long-enough-webhook-secret",
            "PYTHONPATH": str(ROOT),
        }
        cmd = [part.replace("{port}", str(port)) for part in COMMANDS[app]]
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                for _ in range(200):
                    try:
                        async with http.get("/events") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the example app did not start")

                async def call() -> list[str]:
                    async with http.get("/contacts", params={"limit": "3"}) as resp:
                        assert resp.status == 200, await resp.text()
                        return await resp.json()  # type: ignore[no-any-return]

                results = await asyncio.gather(*(call() for _ in range(40)))
                assert all(len(r) == 3 for r in results)
                async with http.post(
                    "/webhooks/salescaling",
                    json={"meetingId": "m", "status": "meeting_created"},
                    headers={"X-Webhook-Secret": "a-long-enough-webhook-secret"},
                ) as resp:
                    assert resp.status == 204
                async with http.get("/events") as resp:
                    assert len(await resp.json()) == 1
        finally:
            proc.terminate()
            await proc.wait()
        assert sim.stats().accepted == 40 and sim.stats().rejected == 0
