"""AiohttpTransport: connection reuse against a real server, error mapping via aioresponses."""

from __future__ import annotations

import asyncio
import re
from types import MappingProxyType
from typing import Any
from unittest import mock

import aiohttp
import pytest
import yarl
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from salescaling_async import (
    AsyncSalescaling,
    ClientClosedError,
    ConnectError,
    PoolLimits,
    RateLimits,
    ReadError,
    RequestTimeoutError,
    Timeouts,
    Window,
    _transport,
)
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async._transport import AiohttpTransport, _LazyReadTimeout, _url_with_query, lazy_read_timer_fits

from .conftest import serve, timed_out_send

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


async def test_the_transport_asks_for_the_running_loop_only_to_open_its_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asking is a getpid() system call on Python <= 3.11; the pipeline, the transport's one
    caller, already refuses every loop but the client's own, so a send does not ask again."""
    asked = []

    class _Asyncio:  # the transport module's view of asyncio, counting the asks
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        def get_running_loop(self) -> asyncio.AbstractEventLoop:
            asked.append(1)
            return asyncio.get_running_loop()

    monkeypatch.setattr(_transport, "asyncio", _Asyncio())
    app = web.Application()
    app.router.add_get("/api/v1/contacts", _ok)
    async with serve(app) as url:
        transport = AiohttpTransport()
        try:
            for _ in range(5):
                assert (await transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}))).status == 200
        finally:
            await transport.aclose()
    assert len(asked) == 1


async def test_a_views_headers_are_put_in_aiohttps_form_once_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp converts any other mapping of headers for every request: the built-in transport
    gives each view its headers in aiohttp's form when the view is made (``prepare_headers``),
    so a multi-tenant service alternating views converts nothing per request."""
    made = []

    class _Counted(CIMultiDict[str]):
        def __init__(self, *args: Any) -> None:
            made.append(1)
            super().__init__(*args)

    monkeypatch.setattr(_transport, "CIMultiDict", _Counted)
    sent: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        sent.append(request.headers["x-api-key"])
        return await _ok(request)

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url, AsyncSalescaling("key-a", base_url=f"{url}/api/v1/") as client:
        views = [client, client.with_key("key-b")]
        assert len(made) == 2  # one per view
        for _ in range(3):
            for view in views:
                await view.request("GET", "contacts")
        assert len(made) == 2  # and none per request
    assert sent == ["key-a", "key-b"] * 3


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})


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


async def test_read_timeout_moves_one_timer_instead_of_arming_one_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk moves the deadline; the one timer re-arms itself there and fires only after a
    whole ``sock_read`` without data (the loop's clock is stubbed, nothing is awaited meanwhile)."""
    loop = asyncio.get_running_loop()
    now = [1000.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    proto = _LazyReadTimeout(loop=loop)
    proto.set_response_params(read_timeout=10.0)
    try:
        proto.start_timeout()  # aiohttp: once the request is written
        first = proto._read_timeout_handle
        assert first is not None and first.when() == 1010.0
        now[0] = 1005.0
        proto._reschedule_timeout()  # aiohttp: for every chunk received
        assert proto._read_timeout_handle is first  # no new timer, the deadline moved to 1015
        first.cancel()
        now[0] = 1010.0
        proto._read_timer_fired()  # the timer fires at its first deadline: data came since
        second = proto._read_timeout_handle
        assert second is not None and second.when() == 1015.0
        assert proto.exception() is None
        proto.read_timeout = 2.0  # a shorter timeout for the next request moves the timer up
        proto._reschedule_timeout()
        third = proto._read_timeout_handle
        assert second.cancelled() and third is not None and third.when() == 1012.0
        third.cancel()
        now[0] = 1012.0
        proto._read_timer_fired()  # nothing since: the read timeout, as aiohttp raises it
        assert isinstance(proto.exception(), aiohttp.SocketTimeoutError)
        assert proto._read_timeout_handle is None
        fresh = _LazyReadTimeout(loop=loop)  # a kept-alive connection between two requests:
        fresh.transport = object()  # connected (never written to here)
        fresh.set_response_params(read_timeout=10.0)
        fresh.start_timeout()
        idle = fresh._read_timeout_handle
        assert idle is not None
        fresh._drop_timeout()  # the response ended: the timer stays armed, the deadline is cleared
        assert fresh._read_timeout_handle is idle and not idle.cancelled()
        idle.cancel()
        now[0] = 1030.0
        fresh._read_timer_fired()  # fires while idle: no timeout, no new timer
        assert fresh.exception() is None and fresh._read_timeout_handle is None
        fresh.start_timeout()  # the next request arms one again
        assert fresh._read_timeout_handle is not None and fresh._read_timeout_handle.when() == 1040.0
    finally:
        for handler in (proto, locals().get("fresh")):  # no timer on the stubbed clock may outlive the test
            if handler is not None and handler._read_timeout_handle is not None:
                handler._read_timeout_handle.cancel()


def _empty_list_app() -> web.Application:
    """A server answering ``GET /api/v1/contacts`` with an empty list envelope."""

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    return app


def _count_read_timers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """From now on, every timer the running loop arms for an aiohttp protocol is recorded
    (``call_later`` goes through ``call_at`` too)."""
    loop = asyncio.get_running_loop()
    armed: list[Any] = []
    real_call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(getattr(callback, "__self__", None), ResponseHandler):
            armed.append(callback)
        return real_call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    return armed


async def test_a_streamed_body_arms_no_read_timer_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A body of 30 separately flushed chunks: stock aiohttp arms a timer per chunk, we one."""
    body = b"".join(b'{"statusCode": 200, "count": 0, "error": null, "data": []}'[i : i + 2] for i in range(0, 58, 2))
    chunks = [body[i : i + 2] for i in range(0, len(body), 2)]
    assert len(chunks) >= 29

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
            await asyncio.sleep(0.002)  # separate reads on the client side
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url:
        transport = AiohttpTransport()
        try:
            armed = _count_read_timers(monkeypatch)
            response = await transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}))
        finally:
            await transport.aclose()
    assert response.body == body
    assert 1 <= len(armed) <= 3, armed


async def test_a_stalled_body_still_times_out() -> None:
    """Headers and half a body, then silence: RequestTimeoutError after ``read`` seconds."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "100"})
        await resp.prepare(request)
        await resp.write(b'{"statusCode": 200, ')
        await release.wait()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url:
        try:
            error = await timed_out_send(url, Timeouts(connect=5.0, read=0.2, total=None))
        finally:
            release.set()
    assert error.sent is True


async def test_requests_on_a_kept_alive_connection_arm_no_read_timer_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 requests one after another on one pooled connection: the read timer is armed once or
    twice in all (stock aiohttp arms three per request), and every request is still timed."""

    async with serve(_empty_list_app()) as url:
        transport = AiohttpTransport()
        try:
            await transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}))  # the connection
            armed = _count_read_timers(monkeypatch)
            for _ in range(20):
                response = await transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}))
                assert response.status == 200
        finally:
            await transport.aclose()
    assert len(armed) <= 2, armed


query_params = st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(query_params, st.sampled_from(["http://h.test/api/v1/contacts", "http://h.test/a%20b/c?x=1", "http://h.test/"]))
def test_the_query_string_is_what_aiohttps_params_would_send(params: list[tuple[str, str]], url: str) -> None:
    """The transport appends the query itself (so aiohttp reuses yarl's cached URL objects):
    byte for byte the request target aiohttp's own ``params=`` makes, whatever the text."""
    mine = yarl.URL(_url_with_query(url, params))
    theirs = yarl.URL(url).extend_query(params)
    assert mine.raw_path_qs == theirs.raw_path_qs
    assert mine.query == theirs.query


async def test_a_server_sees_the_query_params_the_caller_gave() -> None:
    """Through a real server: names and values with spaces, ``&``, ``=``, ``+``, ``%`` and
    non-ASCII text arrive intact and in order."""
    seen: list[list[tuple[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(list(request.query.items()))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/q", handler)
    params = [("a b", "1&2"), ("c=d", "e+f"), ("g", "50%"), ("é", "ü/?#"), ("g", "")]
    async with serve(app) as base:
        transport = AiohttpTransport()
        try:
            await transport.send(RawRequest("GET", base + "/q", {}, params=list(params)))
            await transport.send(RawRequest("GET", base + "/q?x=1", {}, params=list(params)))
        finally:
            await transport.aclose()
    assert seen == [params, [("x", "1"), *params]]


@pytest.mark.parametrize(
    ("version", "fits"), [("3.14.5", True), ("3.14.0a1", True), ("3.15.0", False), ("4.0", False), ("x", False)]
)
def test_the_lazy_read_timer_is_used_only_with_aiohttp_releases_it_was_tested_with(version: str, fits: bool) -> None:
    """It overrides private aiohttp methods: an unknown release gets aiohttp's own protocol."""
    assert lazy_read_timer_fits(version) is fits


async def test_an_unknown_aiohttp_gets_the_stock_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an aiohttp release the lazy timer does not know, requests go through aiohttp's own
    protocol."""
    monkeypatch.setattr(aiohttp, "__version__", "3.99.0")

    async with serve(_empty_list_app()) as url:
        transport = AiohttpTransport()
        try:
            response = await transport.send(RawRequest("GET", f"{url}/api/v1/contacts", {}))
            connector = transport._get_session().connector
            assert connector is not None
            assert not isinstance(connector._factory(), _LazyReadTimeout)  # type: ignore[attr-defined]
        finally:
            await transport.aclose()
    assert response.status == 200


def test_only_short_urls_with_queries_are_remembered() -> None:
    """The query cache keeps at most 1,024 URLs of at most about 2 KiB: long searches are
    encoded each time, not kept."""
    from salescaling_async._transport import _MAX_CACHED_URLS, _query_urls, _url_with_query

    _query_urls.clear()
    long = [("q", "x" * 5000)]
    assert _url_with_query("http://h.test/a", long) == str(yarl.URL("http://h.test/a").extend_query(long))
    assert len(_query_urls) == 0
    assert _url_with_query("http://h.test/a", [("page", "2")]) == "http://h.test/a?page=2"
    assert _url_with_query("http://h.test/a", [("page", "2")]) == "http://h.test/a?page=2"  # remembered
    assert list(_query_urls.values()) == ["http://h.test/a?page=2"]
    for page in range(3, 3 + 2 * _MAX_CACHED_URLS):
        assert _url_with_query("http://h.test/a", [("page", str(page))]) == f"http://h.test/a?page={page}"
        assert 1 <= len(_query_urls) <= _MAX_CACHED_URLS


async def test_a_cookie_one_keys_response_sets_is_never_sent_again() -> None:
    """The API authenticates by key alone: a ``Set-Cookie`` (a load balancer's, say) from one
    key's response is not kept, so it never rides along with that key's or another tenant's
    next request."""
    cookies: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        cookies.append(request.headers.get("Cookie"))
        response = web.json_response({"statusCode": 200, "count": 0, "error": None, "data": []})
        response.set_cookie("AWSALB", "sticky-" + request.headers["x-api-key"])
        return response

    app = web.Application()
    app.router.add_get("/api/v1/contacts", handler)
    async with serve(app) as url:
        base = url.replace("127.0.0.1", "localhost") + "/api/v1/"  # a jar ignores cookies of IP hosts
        async with AsyncSalescaling("tenant-a", base_url=base) as client:
            await client.request("GET", "contacts")
            await client.request("GET", "contacts")
            await client.with_key("tenant-b").request("GET", "contacts")
    assert cookies == [None, None, None]


async def test_a_transport_double_that_answers_any_attribute_gets_plain_headers() -> None:
    """``prepare_headers`` is looked up on the transport's class and its answer used only if
    it is a mapping: a mock (whose every attribute is another mock, or a coroutine function)
    still gets the view's headers as a read-only dict, key included."""
    double = mock.AsyncMock()
    double.send.return_value = RawResponse(200, (), b'{"statusCode":200,"count":0,"error":null,"data":[]}', URL)
    async with AsyncSalescaling("sk_mock_key", base_url="http://127.0.0.1:1/api/v1/", transport=double) as client:
        await client.request("GET", "contacts")
    (request,), _ = double.send.call_args
    assert isinstance(request.headers, MappingProxyType)
    assert request.headers["x-api-key"] == "sk_mock_key"
