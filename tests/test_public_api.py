"""The public surface is a deliberate, sorted list."""

from __future__ import annotations

import asyncio

import salescaling_async
from salescaling_async import models, testing


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and lists every public name the package exposes."""
    for module in (salescaling_async, models, testing):
        assert module.__all__ == sorted(module.__all__), module.__name__
        public = {n for n in vars(module) if not n.startswith(("_", "@")) and n != "annotations"}
        submodules = {
            "models",
            "testing",
            "sync",
            "webhooks",
            "cli",
            "integrations",
            "calendars",
            "calls",
            "contacts",
            "opportunities",
            "provisional",
            "users",
            "pytest_plugin",
            "redis",
        }
        assert public - submodules <= set(module.__all__) | {"__version__"}, module.__name__
        for name in module.__all__:
            assert hasattr(module, name)


async def test_a_hand_written_transport_and_clock_drive_the_client() -> None:
    """The exported seams are the real ones: user classes written against them run the client."""
    from collections.abc import Callable

    from salescaling_async import AsyncSalescaling
    from salescaling_async.testing import Clock, RawRequest, RawResponse, Transport

    class Recording:
        def __init__(self) -> None:
            self.sent: list[RawRequest] = []

        async def send(self, request: RawRequest) -> RawResponse:
            self.sent.append(request)
            return RawResponse(status=200, headers=(), body=b'{"data": {"id": "c1"}}', url=request.url)

        async def aclose(self) -> None:
            return None

    class LoopTime:
        def __init__(self) -> None:
            self.reads = 0

        def now(self) -> float:
            self.reads += 1
            return asyncio.get_running_loop().time()

        def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
            return asyncio.get_running_loop().call_at(when, callback)

    transport: Transport = Recording()
    clock: Clock = LoopTime()
    base = "https://api.salescaling.com/api/v1/"
    async with AsyncSalescaling("sk_test_seams", base_url=base, transport=transport, clock=clock) as client:
        contact = await client.contacts.get("c1")
    assert contact.id == "c1"
    assert [r.url for r in transport.sent] == [base + "contacts/c1"]  # type: ignore[attr-defined]
    assert clock.reads > 0  # type: ignore[attr-defined]
