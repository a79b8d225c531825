"""``AsyncSalescaling.drain()``: refuse new calls, let calls in progress finish, then close."""

from __future__ import annotations

import asyncio

import pytest

from salescaling_async import AsyncSalescaling, ClientClosedError, ClientState
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.testing import FakeClock, FakeTransport, json_response

from .conftest import settle


@pytest.fixture(name="gate")
def _gate() -> asyncio.Event:
    return asyncio.Event()


def _client(clock: FakeClock, gate: asyncio.Event) -> AsyncSalescaling:
    async def handler(request: RawRequest) -> RawResponse:
        await gate.wait()
        return json_response([], count=0)

    return AsyncSalescaling("k" * 20, base_url="http://127.0.0.1:9/api/", clock=clock, transport=FakeTransport(handler))


async def test_drain_waits_for_calls_in_progress(clock: FakeClock, gate: asyncio.Event) -> None:
    """A call in flight finishes normally; a new call during the drain is refused; then closed."""
    client = _client(clock, gate)
    async with client:
        call = asyncio.create_task(client.request("GET", "contacts"))
        await settle()
        drain = asyncio.create_task(client.drain(timeout=30))
        await settle()
        with pytest.raises(ClientClosedError, match="draining"):
            await client.contacts.get("c1")
        assert not drain.done() and client.state is ClientState.OPEN
        gate.set()
        assert (await call).status_code == 200
        assert await drain is True
        assert client.state is ClientState.CLOSED


async def test_drain_gives_up_after_its_timeout(clock: FakeClock, gate: asyncio.Event) -> None:
    """A call that outlives the grace period ends with the client closed; drain reports it."""
    client = _client(clock, gate)
    call = asyncio.create_task(client.request("GET", "contacts"))
    await settle()
    drain = asyncio.create_task(client.drain(timeout=5))
    await settle()
    clock.advance(4.9)
    await settle()
    assert not drain.done()
    clock.advance(0.2)
    assert await drain is False
    assert client.state is ClientState.CLOSED
    call.cancel()


async def test_drain_of_an_idle_client_closes_at_once(clock: FakeClock, gate: asyncio.Event) -> None:
    """Nothing in progress: drain closes immediately; views do not own the client."""
    client = _client(clock, gate)
    assert await client.with_options(timeout=3).drain(1) is True
    assert client.state is not ClientState.CLOSED
    assert await client.drain(1) is True
    assert client.state is ClientState.CLOSED
