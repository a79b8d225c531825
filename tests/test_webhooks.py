"""Webhook parsing and the receivers in a real aiohttp server and a real FastAPI app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI

from salescaling_async import ConfigError
from salescaling_async.integrations.aiohttp import webhook_routes
from salescaling_async.integrations.fastapi import webhook_router
from salescaling_async.models import (
    GenericWebhookEvent,
    MeetingNoteStatusChanged,
    MeetingStatus,
    MeetingStatusChanged,
    WebhookEvent,
)
from salescaling_async.webhooks import WebhookVerifier, parse_event

from .conftest import serve

SECRET = "s3cret-s3cret-s3cret"
GOOD = {"X-Webhook-Secret": SECRET, "content-type": "application/json"}


def test_parse_known_events_by_shape_and_by_route() -> None:
    """Known payloads become typed events; statuses are open enums."""
    event = parse_event(json.dumps({"meetingId": "m1", "status": "meeting_summary_done"}))
    assert event == MeetingStatusChanged(meeting_id="m1", status=MeetingStatus.MEETING_SUMMARY_DONE)
    note = parse_event(b'{"meetingNoteId": "n1", "status": "meeting_note_brand_new", "x": 1}')
    assert isinstance(note, MeetingNoteStatusChanged) and note.status == "meeting_note_brand_new"
    assert note.extra == {"x": 1}
    signal = parse_event(b'{"score": 3}', event_type="commercial_signal_detected")
    assert type(signal).__name__ == "CommercialSignalDetected" and signal.extra == {"score": 3}  # type: ignore[union-attr]
    unknown = parse_event(b'{"foo": 1}', event_type="brand_new_event")
    assert unknown == GenericWebhookEvent(event_type="brand_new_event", payload={"foo": 1})


def test_short_secrets_are_refused() -> None:
    """A guessable secret is a configuration error."""
    with pytest.raises(ConfigError):
        WebhookVerifier("short")


CASES = [
    pytest.param(GOOD, json.dumps({"meetingId": "m", "status": "meeting_created"}), 204, "MeetingStatusChanged",
                 id="valid"),
    pytest.param({**GOOD, "X-Webhook-Secret": "wrong-wrong-wrong-wrong"}, "{}", 401, None, id="wrong-secret"),
    pytest.param({"content-type": "application/json"}, "{}", 401, None, id="no-secret"),
    pytest.param(GOOD, "x" * 5000, 413, None, id="oversized"),
    pytest.param(GOOD, "{not json", 400, None, id="malformed"),
    pytest.param(GOOD, json.dumps({"whatever": True}), 204, "GenericWebhookEvent", id="unknown-type"),
]  # fmt: skip

Post = Callable[[dict[str, str], str], Awaitable[int]]


@pytest.fixture(name="receiver", params=["aiohttp", "fastapi"])
async def _receiver(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Post, list[WebhookEvent]]]:
    """A real aiohttp server, or a real FastAPI app over ASGI, receiving webhooks."""
    make = _aiohttp_receiver if request.param == "aiohttp" else _fastapi_receiver
    async for value in make():
        yield value


async def _aiohttp_receiver() -> AsyncIterator[tuple[Post, list[WebhookEvent]]]:
    received: list[WebhookEvent] = []
    app = web.Application()
    app.add_routes(webhook_routes(received.append, secret=SECRET, max_body=4096))
    async with serve(app) as base, aiohttp.ClientSession() as http:

        async def post(headers: dict[str, str], body: str) -> int:
            async with http.post(f"{base}/webhooks/salescaling", data=body.encode(), headers=headers) as resp:
                return resp.status

        yield post, received


async def _fastapi_receiver() -> AsyncIterator[tuple[Post, list[WebhookEvent]]]:
    received: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        received.append(event)

    app = FastAPI()
    app.include_router(webhook_router(on_event, secret=SECRET, max_body=4096))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:

        async def post(headers: dict[str, str], body: str) -> int:
            return (await http.post("/webhooks/salescaling", content=body.encode(), headers=headers)).status_code

        yield post, received


@pytest.mark.parametrize(("headers", "body", "status", "delivered"), CASES)
async def test_receivers(receiver: tuple[Post, list[WebhookEvent]], headers: dict[str, str], body: str,
                         status: int, delivered: str | None) -> None:  # fmt: skip
    """Valid deliveries reach the callback typed; bad ones get 401/413/400 and reach nothing."""
    post, received = receiver
    assert await post(headers, body) == status
    assert [type(e).__name__ for e in received] == ([delivered] if delivered else [])


async def test_receiver_passes_generic_payload() -> None:
    """An unknown event keeps its payload for the callback."""
    got: list[Any] = []
    app = FastAPI()
    app.include_router(webhook_router(got.append, secret=SECRET, event_type="new_thing"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        await http.post("/webhooks/salescaling", content=b'{"a": 1}', headers=GOOD)
    assert got == [GenericWebhookEvent(event_type="new_thing", payload={"a": 1})]
