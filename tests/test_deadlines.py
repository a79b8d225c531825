"""The whole-attempt timeout (``Timeouts.total``): one shared timer, the same bound and cancellation.

The transport times the whole attempt itself (``_deadlines``) instead of aiohttp's ``total``,
which armed a timer handle per request.  These tests hold it to what aiohttp's did: a body
that keeps dripping (so the read timeout never fires) still ends at ``total``; a cancellation
from elsewhere is never turned into a timeout; the task's cancellation count is left as found.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import pytest
from aiohttp import web

from salescaling_async import PoolLimits, RequestTimeoutError, Timeouts
from salescaling_async._deadlines import BATCH, Deadlines
from salescaling_async._request import RawRequest
from salescaling_async._transport import AiohttpTransport

from .conftest import serve, timed_out_send

needs_cancel_counts = pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is 3.11+")


def _dripping_app(sent: asyncio.Event, stop: asyncio.Event) -> web.Application:
    """Headers, then one byte every 20 ms, never finished: only ``total`` can end the read."""

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100000"})
        await resp.prepare(request)
        sent.set()
        while not stop.is_set():
            await resp.write(b" ")
            await asyncio.sleep(0.02)
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    return app


def _silent_app(arrived: asyncio.Event, stop: asyncio.Event, seen: list[str] | None = None) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(request.path_qs)
        arrived.set()
        await stop.wait()
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    return app


async def test_a_body_that_keeps_dripping_ends_at_the_total() -> None:
    """The read timeout (30 s) never fires on a byte every 20 ms; the total (0.3 s) does."""
    sent, stop = asyncio.Event(), asyncio.Event()
    async with serve(_dripping_app(sent, stop)) as url:
        try:
            error = await timed_out_send(url, Timeouts(connect=5.0, read=30.0, total=0.3))
        finally:
            stop.set()
    assert sent.is_set()
    assert error.sent is True and "after sending" in str(error)
    assert "total of 0.3 s" in str(error)
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # the timeout's own cancel withdrawn


async def test_a_cancellation_from_elsewhere_is_never_a_timeout() -> None:
    """Cancelling a send that waits for its answer raises CancelledError, and unregisters it."""
    arrived, stop = asyncio.Event(), asyncio.Event()
    async with serve(_silent_app(arrived, stop)) as url:
        transport = AiohttpTransport()
        try:
            send = asyncio.ensure_future(transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {})))
            await arrived.wait()
            send.cancel()
            with pytest.raises(asyncio.CancelledError):
                await send
            deadlines = transport._deadlines
            assert deadlines is not None
            assert not deadlines._due and not deadlines._expired
        finally:
            stop.set()
            await transport.aclose()


async def test_sends_in_flight_share_one_timer() -> None:
    """100 sends in flight with the default total (120 s) arm one timer, not 100."""
    arrived, stop = asyncio.Event(), asyncio.Event()
    count = 0

    async def handler(_request: web.Request) -> web.Response:
        nonlocal count
        count += 1
        if count == 100:
            arrived.set()
        await stop.wait()
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url:
        transport = AiohttpTransport()
        try:
            sends = [
                asyncio.ensure_future(transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {})))
                for _ in range(100)
            ]
            try:
                await arrived.wait()
                assert len(transport._deadlines or ()) == 1
            finally:
                stop.set()
                responses = await asyncio.gather(*sends)
        finally:
            stop.set()
            await transport.aclose()
    assert [r.status for r in responses] == [200] * 100
    assert transport._deadlines is not None and len(transport._deadlines) == 0  # closed: disarmed


async def _registered(deadlines: Deadlines, seconds: float | None, release: asyncio.Event) -> None:
    """A task whose send is registered under ``seconds`` until ``release`` is set."""
    token = deadlines.start(seconds)
    try:
        await release.wait()
    finally:
        deadlines.finish(token)


async def test_the_one_timer_is_armed_for_the_earliest_due_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer is armed for the earliest due time, moves up for an earlier one, never back
    for a later one; when it fires with nothing due it arms for the earliest send left."""
    loop = asyncio.get_running_loop()
    now = [1000.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    deadlines, release = Deadlines(loop), asyncio.Event()
    tasks = []

    async def register(seconds: float | None) -> None:
        tasks.append(asyncio.ensure_future(_registered(deadlines, seconds, release)))
        await asyncio.sleep(0)  # the task runs up to its wait: registered

    try:
        await register(60.0)
        assert deadlines._timer_at == 1060.0 and len(deadlines) == 1
        await register(120.0)
        assert deadlines._timer_at == 1060.0  # a later one does not move it
        await register(2.0)
        assert deadlines._timer_at == 1002.0 and len(deadlines) == 1  # an earlier one does
        await register(None)  # no total: not registered
        assert len(deadlines._due) == 3
        assert deadlines.start(None) is None
        tasks[2].cancel()  # the earliest leaves before it is due
        with pytest.raises(asyncio.CancelledError):
            await tasks[2]
        deadlines._fire()  # due at 1002: nothing is, so it arms for the earliest left
        assert deadlines._timer_at == 1060.0 and not deadlines._expired
        assert all(not task.done() for task in (tasks[0], tasks[1], tasks[3]))
    finally:
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        deadlines.close()
    assert len(deadlines) == 0 and deadlines._timer_at == math.inf


async def test_sends_running_out_one_after_another_fire_the_timer_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that stops answering: 1,000 sends due 0.1 ms apart (over 100 ms).  The timer
    fires at most once per BATCH, each time for every send due by then (not once per send,
    each with a look at all of them), and every send times out at most BATCH late, never early."""
    loop = asyncio.get_running_loop()
    now = [100.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    deadlines = Deadlines(loop)
    ended: dict[int, tuple[str, float]] = {}
    changed = asyncio.Condition()

    async def send(i: int, started: asyncio.Event) -> None:
        outcome = await _waits_under(deadlines, 30.0 + i * 0.0001, started)
        ended[i] = (outcome, now[0])  # the clock when its timeout reached it
        async with changed:
            changed.notify_all()

    tasks = []
    for i in range(1000):
        started = asyncio.Event()
        tasks.append(asyncio.ensure_future(send(i, started)))
        await started.wait()
    fires = 0
    try:
        while deadlines._due:
            now[0] = deadlines._timer_at  # the loop's clock reaches the armed time
            deadlines._fire()
            fires += 1
            async with changed:  # the cancelled sends end
                await changed.wait_for(lambda: len(ended) == 1000 - len(deadlines._due))
        await asyncio.gather(*tasks)
    finally:
        deadlines.close()
    assert BATCH == 0.01 and fires <= 12, fires  # about one per BATCH of the 100 ms, not 1,000
    for i in range(1000):
        outcome, at = ended[i]
        assert outcome == "timeout" and 130.0 + i * 0.0001 <= at <= 130.0 + i * 0.0001 + BATCH + 1e-9


async def test_many_sends_one_after_another_arm_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 sends of a 2 s total, one every 0.1 ms and each ended at once: one timer, armed
    for the first, not one per send left armed until due."""
    loop = asyncio.get_running_loop()
    now = [500.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    armed: list[float] = []
    call_at = loop.call_at

    def counted(when: float, *args: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, *args)

    monkeypatch.setattr(loop, "call_at", counted)
    deadlines = Deadlines(loop)
    try:
        for _ in range(3000):
            now[0] += 0.0001
            deadlines.finish(deadlines.start(2.0))
        assert armed == [pytest.approx(502.0001)]  # one timer handle in all, for the first send
        assert len(deadlines) == 1 and not deadlines._due
    finally:
        deadlines.close()


async def _waits_under(deadlines: Deadlines, seconds: float, started: asyncio.Event) -> str:
    """What the transport's send does around its request: register, wait, classify."""
    token = deadlines.start(seconds)
    try:
        started.set()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        if deadlines.expired_alone(token):
            return "timeout"
        raise
    finally:
        deadlines.finish(token)
    return "done"  # pragma: no cover - never set


async def test_the_expiry_cancels_only_the_sends_still_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    real_time = loop.time
    deadlines = Deadlines(loop)
    started = [asyncio.Event() for _ in range(3)]
    tasks = [asyncio.ensure_future(_waits_under(deadlines, 60.0, s)) for s in started]
    for s in started:
        await s.wait()
    tasks[0].cancel()  # leaves before its timer fires
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    monkeypatch.setattr(loop, "time", lambda: real_time() + 61)  # every send is due: the loop fires the timer
    assert await asyncio.gather(*tasks[1:]) == ["timeout", "timeout"]
    assert len(deadlines) == 0 and not deadlines._due and not deadlines._expired


@needs_cancel_counts
async def test_a_cancellation_that_coincides_with_the_timeout_passes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer fires and someone else cancels the task in the same loop step: CancelledError."""
    loop = asyncio.get_running_loop()
    real_time = loop.time
    deadlines = Deadlines(loop)
    started = asyncio.Event()
    task = asyncio.ensure_future(_waits_under(deadlines, 60.0, started))
    await started.wait()
    monkeypatch.setattr(loop, "time", lambda: real_time() + 61)
    deadlines._fire()  # the timer's callback, in this loop step
    assert deadlines._expired == {task: 0}
    task.cancel()  # a TaskGroup or the user, at the same moment
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelling() == 1  # the outside cancellation is still pending, the timeout's withdrawn


async def test_a_send_waiting_for_a_pooled_connection_ends_at_the_total_and_the_pool_recovers() -> None:
    """One connection, held by a send the server does not answer: a second send times out
    while it waits for the connection, certainly not sent (its rate slot can come back, even a
    POST may be retried); once the first is answered, the pool serves again."""
    arrived, stop, seen = asyncio.Event(), asyncio.Event(), []
    async with serve(_silent_app(arrived, stop, seen)) as url:
        transport = AiohttpTransport(PoolLimits(max_connections=1))
        try:
            holder = asyncio.ensure_future(transport.send(RawRequest("GET", f"{url}/api/v1/contacts?n=1", {})))
            await arrived.wait()
            waiting = RawRequest("GET", f"{url}/api/v1/contacts?n=2", {}, timeouts=Timeouts(connect=None, total=0.3))
            with pytest.raises(RequestTimeoutError, match="before sending") as caught:
                await asyncio.wait_for(transport.send(waiting), 30)
            assert caught.value.sent is False
            stop.set()
            assert (await holder).status == 200
            after = await asyncio.wait_for(transport.send(RawRequest("GET", f"{url}/api/v1/contacts?n=3", {})), 30)
            assert after.status == 200
            assert seen == ["/api/v1/contacts?n=1", "/api/v1/contacts?n=3"]  # the timed-out one never arrived
        finally:
            stop.set()
            await transport.aclose()


async def test_a_tls_handshake_that_never_ends_times_out_before_sending() -> None:
    """A server that accepts the connection and never answers the TLS handshake: the total
    ends the attempt, certainly not sent (the server got a ClientHello, never the request)."""
    received = bytearray()
    got_hello = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                received.extend(chunk)
                got_hello.set()
        finally:
            writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AiohttpTransport()
    try:
        request = RawRequest(
            "GET", f"https://127.0.0.1:{port}/api/v1/contacts", {}, timeouts=Timeouts(connect=None, total=0.3)
        )
        with pytest.raises(RequestTimeoutError, match="before sending") as caught:
            await asyncio.wait_for(transport.send(request), 30)
        assert caught.value.sent is False
        await asyncio.wait_for(got_hello.wait(), 30)
        assert received[:1] == b"\x16" and b"GET " not in received  # a TLS record, no HTTP request
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()


@needs_cancel_counts
async def test_through_the_transport_a_cancel_at_the_moment_of_the_timeout_passes_through() -> None:
    """The send's timer and an outside ``cancel()`` due at the same loop time run in the same
    loop step: the send raises CancelledError (never a timeout that swallows the cancel)."""
    arrived, stop = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    async with serve(_silent_app(arrived, stop)) as url:
        transport = AiohttpTransport()
        try:
            request = RawRequest("GET", f"{url}/api/v1/contacts", {}, timeouts=Timeouts(total=0.3))
            send = asyncio.ensure_future(transport.send(request))
            await arrived.wait()
            assert transport._deadlines is not None
            when = transport._deadlines._timer_at
            loop.call_at(when, send.cancel)
            with pytest.raises(asyncio.CancelledError):
                await send
            assert send.cancelling() == 1  # the outside cancel still counted, the timeout's withdrawn
        finally:
            stop.set()
            await transport.aclose()
