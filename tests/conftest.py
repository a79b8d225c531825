"""Shared fixtures: a fake clock, a loop driver for it, and simulator helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import settings

from salescaling_async.testing import FakeClock

from .redis_server import RedisServer

# CI: more examples, no deadline (shared runners are slow), and the reproduction blob printed
# on failure (`@reproduce_failure(...)`), so a red run can be replayed exactly.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

T = TypeVar("T")

# A shell starts a background job (`cmd &`, nohup) with Ctrl-C ignored, and Python then leaves
# it ignored: the tests that send SIGINT (to this process or to the CLI, which inherits the
# disposition) would see it vanish.  They test what a user's Ctrl-C does, so the suite runs with
# Python's own handler however it was started (a child process gets the default action back).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


async def settle(rounds: int = 5) -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def drive(clock: FakeClock, awaitable: Awaitable[T], *, limit: float = 10_000.0) -> T:
    """Run ``awaitable``, advancing the fake clock to the next timer whenever the loop idles.

    Time only moves when nothing else can run, exactly like a virtual-time loop.
    """
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    start = clock.now()
    while not task.done():
        await settle()
        if task.done():
            break
        due = clock.next_due()
        if due is None:
            await asyncio.sleep(0.001)  # real I/O (a local server) is still running
            continue
        if due - start > limit:
            task.cancel()
            raise AssertionError(f"virtual time limit {limit}s exceeded")
        clock.advance(max(0.0, due - clock.now()))
    return task.result()


@pytest.fixture(name="drive")
def _drive(clock: FakeClock) -> Callable[..., Any]:
    async def run(awaitable: Awaitable[T], **kwargs: Any) -> T:
        return await drive(clock, awaitable, **kwargs)

    return run


@pytest.fixture(name="redis_server")
def _redis_server() -> Any:
    """A fresh redis-server per test: tests never silently skip when Redis is missing."""
    server = RedisServer()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(name="redis_url")
def _redis_url() -> Any:
    """The CI's Redis (SALESCALING_TEST_REDIS_URL) or, without one, a server of our own."""
    import os

    url = os.environ.get("SALESCALING_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.kill()


@contextlib.asynccontextmanager
async def serve(app: Any) -> Any:
    """Serve an aiohttp ``web.Application`` on a free loopback port; yield its base URL."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def timed_out_send(url: str, timeouts: Any) -> Any:
    """``GET {url}/api/v1/contacts`` with ``timeouts`` through a transport of its own; return
    the ``RequestTimeoutError`` it must raise (the test fails otherwise, within 30 s)."""
    from salescaling_async import RequestTimeoutError
    from salescaling_async._request import RawRequest
    from salescaling_async._transport import AiohttpTransport

    transport = AiohttpTransport()
    try:
        with pytest.raises(RequestTimeoutError) as caught:
            await asyncio.wait_for(
                transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}, timeouts=timeouts)), 30
            )
    finally:
        await transport.aclose()
    return caught.value


async def until(condition: Callable[[], object], what: str, *, timeout: float = 30.0, interval: float = 0.01) -> None:
    """Poll ``condition``, another component's state with no event to wait on (a server's
    counters, a file another process writes), until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


def wait_until(condition: Callable[[], object], what: str, *, timeout: float = 30.0, interval: float = 0.01) -> None:
    """:func:`until` for a test without an event loop (the server runs on its own thread)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def in_threads(work: Callable[[int], object], count: int) -> None:
    """Run ``work(index)`` on ``count`` threads released together by a barrier; wait for all."""
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
