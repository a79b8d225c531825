"""Webhook parsing and the receivers in a real aiohttp server and a real FastAPI app."""

from __future__ import annotations

import asyncio
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
from salescaling_async.webhooks import ReplayGuard, WebhookVerifier, parse_event

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
    pytest.param(
        GOOD, json.dumps({"meetingId": "m", "status": "meeting_created"}), 204, "MeetingStatusChanged", id="valid"
    ),
    pytest.param({**GOOD, "X-Webhook-Secret": "wrong-wrong-wrong-wrong"}, "{}", 401, None, id="wrong-secret"),
    pytest.param({"content-type": "application/json"}, "{}", 401, None, id="no-secret"),
    pytest.param(GOOD, "x" * 5000, 413, None, id="oversized"),
    pytest.param(GOOD, "{not json", 400, None, id="malformed"),
    pytest.param(GOOD, json.dumps({"whatever": True}), 204, "GenericWebhookEvent", id="unknown-type"),
]

Post = Callable[..., Awaitable[int]]


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
    app.add_routes(webhook_routes(received.append, secret=SECRET, max_body=2_000_000, path="/big"))
    async with serve(app) as base, aiohttp.ClientSession() as http:

        async def post(
            headers: dict[str, str], body: str, *, chunked: bool = False, max_body: int | None = 4096
        ) -> int:
            raw = body.encode("utf-8", "surrogateescape")
            path = "/webhooks/salescaling" if max_body else "/big"
            data: Any = _chunks(raw, 1000) if chunked else raw
            async with http.post(f"{base}{path}", data=data, headers=headers) as resp:
                return resp.status

        yield post, received


async def _fastapi_receiver() -> AsyncIterator[tuple[Post, list[WebhookEvent]]]:
    received: list[WebhookEvent] = []

    async def on_event(event: WebhookEvent) -> None:
        received.append(event)

    app = FastAPI()
    app.include_router(webhook_router(on_event, secret=SECRET, max_body=4096))
    app.include_router(webhook_router(on_event, secret=SECRET, max_body=2_000_000, path="/big"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:

        async def post(
            headers: dict[str, str], body: str, *, chunked: bool = False, max_body: int | None = 4096
        ) -> int:
            raw = body.encode("utf-8", "surrogateescape")
            path = "/webhooks/salescaling" if max_body else "/big"
            content: Any = _chunks(raw, 1000) if chunked else raw
            return (await http.post(path, content=content, headers=headers)).status_code

        yield post, received


@pytest.mark.parametrize(("headers", "body", "status", "delivered"), CASES)
async def test_receivers(
    receiver: tuple[Post, list[WebhookEvent]], headers: dict[str, str], body: str, status: int, delivered: str | None
) -> None:
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


# -- hostile and broken deliveries (issue 12 item 10) -----------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


async def _chunks(payload: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]
        await asyncio.sleep(0)


async def test_aiohttp_receiver_reads_a_body_of_many_segments() -> None:
    """A 600 KB delivery arriving in many small chunks is read whole and delivered."""
    received: list[WebhookEvent] = []
    app = web.Application()
    app.add_routes(webhook_routes(received.append, secret=SECRET))
    payload = json.dumps({"meetingId": "m", "status": "meeting_created", "pad": "x" * 600_000}).encode()
    async with serve(app) as base, aiohttp.ClientSession() as http:
        for data in (payload, _chunks(payload, 4096)):  # with Content-Length, then chunked
            async with http.post(f"{base}/webhooks/salescaling", data=data, headers=GOOD) as resp:
                assert resp.status == 204, await resp.text()
    assert [type(e).__name__ for e in received] == ["MeetingStatusChanged"] * 2


async def test_oversized_chunked_body_is_413(receiver: tuple[Post, list[WebhookEvent]]) -> None:
    """Past max_body a chunked body (no Content-Length) is 413, on both receivers."""
    post, received = receiver
    assert await post(GOOD, "x" * 5000, chunked=True) == 413  # type: ignore[call-arg]
    assert received == []


async def _aiohttp_status_line(rest: bytes) -> bytes:
    """The status line the aiohttp receiver answers to a raw webhook POST whose request line and Host are
    followed by ``rest`` (the other headers, the blank line and whatever body is sent)."""
    app = web.Application()
    app.add_routes(webhook_routes(lambda e: None, secret=SECRET))
    async with serve(app) as base:
        port = int(base.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhooks/salescaling HTTP/1.1\r\nHost: x\r\n" + rest)
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        await writer.wait_closed()  # the server stops lingering for the announced body at once
    return status


async def test_aiohttp_secret_is_checked_before_the_body_is_read() -> None:
    """A wrong secret is answered 401 while the announced body was never sent."""
    status = await _aiohttp_status_line(b"Content-Length: 1000000\r\nX-Webhook-Secret: wrong-wrong-wrong-wrong\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 401")


async def test_fastapi_secret_is_checked_before_the_body_is_read() -> None:
    """The FastAPI receiver answers 401 without calling receive() for the body."""
    app = FastAPI()
    app.include_router(webhook_router(lambda e: None, secret=SECRET))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read before the secret was checked")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/salescaling",
        "raw_path": b"/webhooks/salescaling",
        "query_string": b"",
        "headers": [(b"x-webhook-secret", b"nope-nope-nope-nope"), (b"content-length", b"10")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("x", 80),
        "client": ("y", 1),
        "root_path": "",
        "asgi": {"version": "3.0"},
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 401


@pytest.mark.parametrize(
    "value", [pytest.param(b"\xff\xfe\xfd", id="invalid-utf8"), pytest.param(b"s3cret-\xe9\xe9", id="latin1")]
)
async def test_aiohttp_undecodable_secret_header_is_401(value: bytes) -> None:
    """A secret header whose bytes are not UTF-8 is 401, never 500."""
    status = await _aiohttp_status_line(b"Content-Length: 2\r\nX-Webhook-Secret: " + value + b"\r\n\r\n{}")
    assert status.startswith(b"HTTP/1.1 401")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DEEP, id="nested-100k"),
        pytest.param('{"a": ' * 50_000 + "1" + "}" * 50_000, id="nested-objects"),
        pytest.param("\udcff", id="not-utf8"),
        pytest.param("   ", id="blank"),
    ],
)
async def test_unparseable_bodies_are_400(receiver: tuple[Post, list[WebhookEvent]], body: str) -> None:
    """Bodies that cannot be parsed, however hostile, are 400 with a valid secret, never 500."""
    post, received = receiver
    limit_ok = {**GOOD}
    assert await post(limit_ok, body, max_body=None) == 400  # type: ignore[call-arg]
    assert received == []


async def test_replay_guard_delivers_a_body_once_per_window() -> None:
    """A replayed delivery is acknowledged but not delivered again until the window passes;
    a delivery whose callback failed is forgotten, so the sender's retry goes through."""
    now = [0.0]
    guard = ReplayGuard(window=60.0, maxsize=100, clock=lambda: now[0])
    got: list[WebhookEvent] = []
    fail = [True]

    def on_event(event: WebhookEvent) -> None:
        if fail[0]:
            fail[0] = False
            raise RuntimeError("callback failed")
        got.append(event)

    app = web.Application()
    app.add_routes(webhook_routes(on_event, secret=SECRET, replay_guard=guard))
    body = json.dumps({"meetingId": "m", "status": "meeting_created"}).encode()
    async with serve(app) as base, aiohttp.ClientSession() as http:

        async def post() -> int:
            async with http.post(f"{base}/webhooks/salescaling", data=body, headers=GOOD) as resp:
                return resp.status

        assert await post() == 500  # the callback's own failure: the sender will retry
        assert [await post() for _ in range(3)] == [204, 204, 204]
        assert len(got) == 1
        now[0] += 61.0
        assert await post() == 204
        assert len(got) == 2


def test_replay_guard_is_bounded() -> None:
    """The guard remembers at most maxsize bodies: memory stays bounded under a flood."""
    guard = ReplayGuard(window=60.0, maxsize=50, clock=lambda: 0.0)
    for i in range(1000):
        assert guard.seen(str(i).encode()) is False
    assert len(guard) == 50
    assert guard.seen(b"999") is True


def test_replay_guard_config_is_checked() -> None:
    """A window or size that cannot work is a configuration error."""
    with pytest.raises(ConfigError):
        ReplayGuard(window=0)
