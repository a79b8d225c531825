"""AiohttpTransport: connection reuse against a real server, error mapping via aioresponses."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses

from salescaling_async import (
    AsyncSalescaling,
    ClientClosedError,
    ConnectError,
    PoolLimits,
    RateLimits,
    ReadError,
    RequestTimeoutError,
    Window,
)
from salescaling_async._request import RawRequest
from salescaling_async._transport import AiohttpTransport

from .conftest import serve

URL = "http://127.0.0.1:1/api/v1/contacts"


async def test_pooled_connections_are_reused() -> None:
    """300 concurrent requests through one client use at most the pool's connections."""
    peers: set[object] = set()

    async def handler(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        await asyncio.sleep(0.005)
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url:
        limits = RateLimits((Window("none", 100_000, 1.0),))
        async with AsyncSalescaling(
            "k", base_url=f"{url}/api/v1/", pool=PoolLimits(max_connections=8), limits=limits
        ) as client:
            for _ in range(3):
                await asyncio.gather(*(client.request("GET", "contacts") for _ in range(100)))
    assert 1 <= len(peers) <= 8


@pytest.mark.parametrize(
    ("exception", "error", "sent"),
    [
        pytest.param(aiohttp.ClientConnectorError(None, OSError(111, "refused")), ConnectError, False, id="refused"),  # type: ignore[arg-type]
        pytest.param(aiohttp.ConnectionTimeoutError(), RequestTimeoutError, False, id="connect-timeout"),
        pytest.param(aiohttp.SocketTimeoutError(), RequestTimeoutError, True, id="read-timeout"),
        pytest.param(asyncio.TimeoutError(), RequestTimeoutError, True, id="total-timeout"),
        pytest.param(aiohttp.ServerDisconnectedError(), ReadError, True, id="disconnected"),
        pytest.param(aiohttp.ClientPayloadError("cut"), ReadError, True, id="payload"),
    ],
)
async def test_aiohttp_failures_map_to_the_error_tree(exception: Exception, error: type, sent: bool) -> None:
    """Each aiohttp failure becomes its TransportError, saying whether anything was sent."""
    transport = AiohttpTransport()
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), exception=exception)
        with pytest.raises(error) as info:
            await transport.send(RawRequest("GET", URL, {"x-api-key": "SECRET"}))
    assert info.value.sent is sent
    assert "SECRET" not in str(info.value)
    await transport.aclose()


async def test_timeout_error_is_also_a_builtin_timeout() -> None:
    """RequestTimeoutError can be caught as the built-in TimeoutError."""
    assert issubclass(RequestTimeoutError, TimeoutError)


async def test_transport_refuses_use_after_close() -> None:
    """A closed transport raises ClientClosedError."""
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(ClientClosedError):
        await transport.send(RawRequest("GET", URL, {}))


async def test_sends_multipart_with_form_fields_and_file(tmp_path: object) -> None:
    """Form fields and bytes, path and streamed files arrive as multipart at a real server."""
    from pathlib import Path

    from salescaling_async._request import FilePart

    received: list[dict[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        received.append({"name": form["name"], "file": upload.file.read(), "filename": upload.filename})  # type: ignore[union-attr]
        return web.json_response({"ok": True}, status=201)

    app = web.Application()
    app.router.add_post("/up", handler)
    path = Path(str(tmp_path)) / "call.mp3"
    path.write_bytes(b"from-path")

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"stre"
        yield b"amed"

    transport = AiohttpTransport()
    async with serve(app) as base:
        try:
            for content in (b"from-bytes", path, chunks()):
                part = FilePart("file", "a.mp3", content)
                response = await transport.send(RawRequest("POST", f"{base}/up", {}, form={"name": "n"}, files=(part,)))
                assert response.status == 201
        finally:
            await transport.aclose()
    assert [r["file"] for r in received] == [b"from-bytes", b"from-path", b"streamed"]
    assert {r["name"] for r in received} == {"n"} and received[0]["filename"] == "a.mp3"
