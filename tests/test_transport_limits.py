"""AiohttpTransport bounds every response body: streamed, counted after decompression.

The memory tests run a real loopback aiohttp server and measure the client's allocations
with tracemalloc (which also sees zlib's buffers: CPython allocates them through PyMem).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from salescaling_async import (
    AsyncSalescaling,
    ConfigError,
    ResponseLimits,
    ResponseTooLargeError,
    ResponseValidationError,
    SalescalingError,
)
from salescaling_async._request import RawRequest
from salescaling_async._transport import AiohttpTransport
from salescaling_async.testing import no_retries

from .conftest import serve

MiB = 1024 * 1024
LIMIT = ResponseLimits().max_body_bytes  # the default, 16 MiB
BOUND = LIMIT * 5 // 4 + 8 * MiB  # the body once (+ bytearray slack), aiohttp buffers, the server side


def _bomb(members: int = 16, member_size: int = 64 * MiB) -> bytes:
    """About 1 MB of gzip inflating to ``members * member_size`` zero bytes (1 GiB).

    Concatenated gzip members (RFC 1952 §2.2) keep the test fast; aiohttp inflates them one
    after another through the same bounded loop as a single member.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    member = b"".join(compressor.compress(zeros) for _ in range(member_size // MiB)) + compressor.flush()
    return member * members


@pytest.fixture(name="bomb", scope="module")
def _bomb_fixture() -> bytes:
    return _bomb()


def _app(bomb: bytes, peers: list[Any]) -> web.Application:
    chunk = b"x" * (256 * 1024)

    async def huge(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(200 * MiB // len(chunk)):  # 200 MiB, generated as it goes
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return resp

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"{}", headers={"Content-Length": str(200 * MiB)})

    async def gzip_bomb(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def small(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    async def exact(request: web.Request) -> web.Response:
        size = int(request.query["size"])
        return web.Response(body=b" " * (size - 2) + b"{}", headers={"Content-Encoding": "identity"})

    app = web.Application()
    for path, handler in [
        ("/huge", huge),
        ("/declared", declared),
        ("/bomb", gzip_bomb),
        ("/small", small),
        ("/exact", exact),
    ]:
        app.router.add_get(path, handler)
    return app


async def _measure(url: str, path: str, transport: AiohttpTransport) -> tuple[Exception | None, int]:
    """Send one GET; return the error raised (if any) and the peak traced allocation."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    error: Exception | None = None
    try:
        await transport.send(RawRequest("GET", url + path, headers={}))
    except Exception as exc:  # returned to the test
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, peak


@pytest.fixture(name="server")
async def _server(bomb: bytes) -> AsyncIterator[tuple[str, list[Any]]]:
    peers: list[Any] = []
    async with serve(_app(bomb, peers)) as url:
        yield url, peers


@pytest.mark.parametrize("path", [pytest.param("/huge", id="200MB-chunked"), pytest.param("/bomb", id="gzip-1GiB")])
async def test_oversized_bodies_stop_at_the_limit_with_bounded_memory(server: tuple[str, list[Any]], path: str) -> None:
    """A 200 MB body and a 1 MB gzip inflating to 1 GiB end typed, under 2x the limit of memory."""
    url, peers = server
    transport = AiohttpTransport()
    try:
        error, peak = await _measure(url, path, transport)
        assert isinstance(error, ResponseTooLargeError), error
        assert isinstance(error, ResponseValidationError) and error.limit == LIMIT and error.raw == ""
        assert peak < BOUND, f"peak {peak / MiB:.1f} MiB"
        # The connection was dropped, not pooled: the next request arrives on a new one.
        await transport.send(RawRequest("GET", url + "/small", headers={}))
        await transport.send(RawRequest("GET", url + "/small", headers={}))
        assert peers[-1] == peers[-2] != peers[-3]
    finally:
        await transport.aclose()


async def test_declared_length_over_the_limit_is_refused_before_reading(server: tuple[str, list[Any]]) -> None:
    """A Content-Length beyond the limit fails at once, without waiting for the body."""
    url, _ = server
    transport = AiohttpTransport()
    try:
        error, peak = await _measure(url, "/declared", transport)
        assert isinstance(error, ResponseTooLargeError) and peak < 4 * MiB
    finally:
        await transport.aclose()


@pytest.mark.parametrize(("size", "fits"), [(1000, True), (1001, False)])
async def test_the_limit_is_exact_and_configurable(server: tuple[str, list[Any]], size: int, fits: bool) -> None:
    """A body of exactly max_body_bytes is accepted; one byte more is refused."""
    url, _ = server
    transport = AiohttpTransport(response_limits=ResponseLimits(max_body_bytes=1000))
    try:
        error, _ = await _measure(url, f"/exact?size={size}", transport)
        assert (error is None) is fits, error
    finally:
        await transport.aclose()


async def test_the_whole_pipeline_raises_the_typed_error(server: tuple[str, list[Any]]) -> None:
    """Through AsyncSalescaling the oversized answer is a ResponseTooLargeError, not retried."""
    url, peers = server
    async with AsyncSalescaling("k", base_url=url + "/", response_limits=ResponseLimits(max_body_bytes=MiB)) as client:
        before = len(peers)
        with pytest.raises(ResponseTooLargeError):
            await client.request("GET", "bomb")
        assert len(peers) == before + 1


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_limits_are_config_errors(value: Any) -> None:
    """The limit must be a positive integer."""
    with pytest.raises(ConfigError):
        ResponseLimits(max_body_bytes=value)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage", id="broken-gzip"),
        pytest.param({"Content-Encoding": "deflate"}, b"not deflate at all", id="broken-deflate"),
        pytest.param({"Content-Encoding": "x-unknown"}, b"{}", id="unknown-encoding"),
        pytest.param({"Content-Type": "application/json; charset=latin-1"}, b'{"data": "\xe9"}', id="latin1"),
        pytest.param({}, b"   ", id="whitespace"),
    ],
)
async def test_broken_encodings_end_typed(headers: dict[str, str], body: bytes) -> None:
    """Whatever the server's encoding claims, a real response ends in a result or a SalescalingError."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/x", handler)
    async with serve(app) as url, AsyncSalescaling("k", base_url=url + "/", retry=no_retries()) as client:
        with contextlib.suppress(SalescalingError):
            await client.request("GET", "x")


async def test_an_encoded_length_over_the_limit_is_judged_after_decoding() -> None:
    """A gzip body larger on the wire than the limit but not once decoded is accepted."""
    plain = b'"' + os.urandom(600).hex()[:988].encode() + b'"'  # 990 bytes of JSON string
    wire = gzip.compress(plain, compresslevel=0)
    assert len(wire) > 1000 >= len(plain)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=wire, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/x", handler)
    transport = AiohttpTransport(response_limits=ResponseLimits(max_body_bytes=1000))
    async with serve(app) as url:
        try:
            response = await transport.send(RawRequest("GET", url + "/x", headers={}))
        finally:
            await transport.aclose()
    assert response.body == plain
