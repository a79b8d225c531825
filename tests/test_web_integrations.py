"""FastAPI install() and aiohttp setup(): SDK errors as HTTP answers, sub-apps, missing
lifespan, composed lifespans, and cancellation of a disconnected client's queued call."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
import httpx
import pytest
from aiohttp import web
from fastapi import BackgroundTasks, Depends, FastAPI

from salescaling_async import (
    AsyncSalescaling,
    BudgetStoreError,
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    ConnectError,
    DeadlineExceededError,
    NotFoundError,
    RateLimitedError,
    RateLimits,
    ReadError,
    RequestTimeoutError,
    ResponseValidationError,
    RetryConfig,
    ServerError,
    Window,
)
from salescaling_async.integrations import aiohttp as aiohttp_integration
from salescaling_async.integrations import fastapi as fastapi_integration
from salescaling_async.integrations._answers import error_answer
from salescaling_async.testing import FakeTransport, json_response

from .conftest import serve, settle

KEY = "sk_test_" + "w" * 24
BASE = "http://127.0.0.1:9/api/v1/"


def _status(status: int, cls: type[Any] = ServerError, **attrs: Any) -> Any:
    error = cls("boom", status_code=status, method="GET", url=BASE + "x")
    for name, value in attrs.items():
        setattr(error, name, value)
    return error


TABLE = [
    pytest.param(_status(429, RateLimitedError, retry_after=7.2), 429, "8", id="upstream-429"),
    pytest.param(DeadlineExceededError("no budget", retry_after=2.5), 503, "3", id="deadline"),
    pytest.param(DeadlineExceededError("no budget", retry_after=None), 503, "1", id="deadline-unknown"),
    pytest.param(CircuitOpenError("down", retry_after=9.1), 503, "10", id="circuit-open"),
    pytest.param(BudgetStoreError("redis down"), 503, "1", id="budget-store"),
    pytest.param(ClientClosedError("closed"), 503, "1", id="closed"),
    pytest.param(RequestTimeoutError("slow", method="GET", url=BASE, sent=True), 504, None, id="timeout"),
    pytest.param(ConnectError("refused", method="GET", url=BASE), 502, None, id="connect"),
    pytest.param(ReadError("reset", method="GET", url=BASE, sent=True), 502, None, id="read"),
    pytest.param(_status(503), 502, None, id="upstream-5xx"),
    pytest.param(_status(404, NotFoundError), 404, None, id="upstream-404"),
    pytest.param(_status(401, type(_status(401))), 502, None, id="upstream-other"),
    pytest.param(ResponseValidationError("bad", raw="x"), 502, None, id="invalid-response"),
    pytest.param(ConfigError("bug"), 500, None, id="config"),
]


@pytest.mark.parametrize(("error", "status", "retry_after"), TABLE)
def test_error_answer_table(error: Exception, status: int, retry_after: str | None) -> None:
    """Each SDK error has one answer; Retry-After is the error's estimate in whole seconds."""
    answer = error_answer(error)
    assert answer.status == status
    assert answer.headers.get("Retry-After") == retry_after
    assert set(answer.body) <= {"error", "message", "retry_after"}
    assert BASE not in str(answer.body)  # upstream URLs stay in the log


# -- the same answers through both frameworks --------------------------------------------------


def _upstream(request: Any) -> Any:
    path = request.url.rsplit("/", 1)[-1].split("?")[0]
    if path == "missing":
        return json_response({"error": "Not Found"}, status=404, envelope=False)
    if path == "broken":
        return json_response({"error": "oops"}, status=500, envelope=False)
    if path == "throttled":
        return json_response({"error": "slow down"}, status=429, envelope=False, headers={"Retry-After": "7"})
    if path == "down":
        raise ConnectError("refused", method="GET", url=request.url)
    if path == "slow":
        raise RequestTimeoutError("read timeout", method="GET", url=request.url, sent=True)
    return json_response({"id": path})


CLIENT = {
    "api_key": KEY,
    "base_url": BASE,
    "transport": FakeTransport(_upstream),
    "retry": RetryConfig(attempts=1, timeout=5.0),
    "limits": RateLimits([Window("w", 5, 60.0)]),
}

CASES = [
    pytest.param("ok", 200, None, id="ok"),
    pytest.param("missing", 404, None, id="404"),
    pytest.param("broken", 502, None, id="5xx"),
    pytest.param("throttled", 429, "7", id="429"),
    pytest.param("down", 502, None, id="unreachable"),
    pytest.param("slow", 504, None, id="timeout"),
]


def _fastapi_app(**client: Any) -> FastAPI:
    app = FastAPI()
    fastapi_integration.install(app, **client)

    @app.get("/x/{name}")
    async def proxy(name: str, sdk: Annotated[AsyncSalescaling, Depends(fastapi_integration.get_salescaling)]) -> Any:
        return (await sdk.request("GET", name)).data

    return app


def _aiohttp_app(**client: Any) -> web.Application:
    app = web.Application()
    aiohttp_integration.setup(app, **client)

    async def proxy(request: web.Request) -> web.Response:
        envelope = await aiohttp_integration.get_client(request).request("GET", request.match_info["name"])
        return web.json_response(envelope.data)

    app.router.add_get("/x/{name}", proxy)
    return app


@asynccontextmanager
async def running_fastapi(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and hand its state to every request, as uvicorn does."""
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://app") as http:
            yield http


@pytest.mark.parametrize(("path", "status", "retry_after"), CASES)
@pytest.mark.parametrize("framework", ["fastapi", "aiohttp"])
async def test_errors_become_answers(
    framework: str, path: str, status: int, retry_after: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Upstream outcomes become 200/404/502/429/504 JSON answers with one log line, no traceback."""
    caplog.set_level(logging.WARNING, "salescaling_async.web")
    if framework == "fastapi":
        async with running_fastapi(_fastapi_app(**CLIENT)) as http:
            resp = await http.get(f"/x/{path}")
            got, headers, body = resp.status_code, resp.headers, resp.json()
    else:
        async with serve(_aiohttp_app(**CLIENT)) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/x/{path}") as aresp:
                got, headers, body = aresp.status, aresp.headers, await aresp.json()
    assert got == status
    assert headers.get("Retry-After") == retry_after
    records = [r for r in caplog.records if r.name == "salescaling_async.web"]
    if status == 200:
        assert body == {"id": "ok"} and records == []
    else:
        assert set(body) >= {"error", "message"}
        assert len(records) == 1 and records[0].exc_info is None and f"-> {status}" in records[0].getMessage()


@pytest.mark.parametrize("framework", ["fastapi", "aiohttp"])
async def test_overload_is_503_with_retry_after_at_once(framework: str) -> None:
    """With the budget spent, a handler's call that cannot be granted within the web deadline
    is refused at once: 503 with the wait as Retry-After, nothing sent upstream."""
    transport = FakeTransport(_upstream)
    client = {**CLIENT, "transport": transport, "limits": RateLimits([Window("w", 2, 60.0)])}
    statuses: list[tuple[int, str | None]] = []
    if framework == "fastapi":
        async with running_fastapi(_fastapi_app(**client)) as http:
            for _ in range(4):
                resp = await http.get("/x/ok")
                statuses.append((resp.status_code, resp.headers.get("Retry-After")))
    else:
        async with serve(_aiohttp_app(**client)) as base, aiohttp.ClientSession() as http:
            for _ in range(4):
                async with http.get(f"{base}/x/ok") as aresp:
                    statuses.append((aresp.status, aresp.headers.get("Retry-After")))
    assert [s for s, _ in statuses] == [200, 200, 503, 503]
    assert all(ra is not None and 55 <= int(ra) <= 61 for _, ra in statuses[2:])
    assert len(transport.requests) == 2


def test_get_salescaling_is_a_coroutine_function() -> None:
    """FastAPI awaits it on the loop instead of hopping to its thread pool."""
    assert inspect.iscoroutinefunction(fastapi_integration.get_salescaling)


async def test_fastapi_missing_lifespan_names_install(caplog: pytest.LogCaptureFixture) -> None:
    """Without the lifespan (no `with TestClient`, a sub-app) the answer is a JSON 500 and the
    one log line says to call install(), instead of an AttributeError traceback."""
    caplog.set_level(logging.WARNING, "salescaling_async.web")
    app = _fastapi_app(**CLIENT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        resp = await http.get("/x/ok")
    assert resp.status_code == 500 and resp.json()["error"] == "internal_error"
    [record] = [r for r in caplog.records if r.name == "salescaling_async.web"]
    assert "install(app)" in record.getMessage() and record.exc_info is None


async def test_fastapi_sub_app_uses_the_parent_client() -> None:
    """A mounted sub-app (which has no lifespan) gets the parent's client and error answers."""
    parent = FastAPI()
    fastapi_integration.install(parent, **CLIENT)
    sub = FastAPI()
    fastapi_integration.add_error_handlers(sub)

    @sub.get("/x/{name}")
    async def proxy(name: str, sdk: Annotated[AsyncSalescaling, Depends(fastapi_integration.get_salescaling)]) -> Any:
        return (await sdk.request("GET", name)).data

    parent.mount("/sub", sub)
    async with running_fastapi(parent) as http:
        assert (await http.get("/sub/x/ok")).json() == {"id": "ok"}
        assert (await http.get("/sub/x/missing")).status_code == 404


async def test_aiohttp_sub_app_uses_the_parent_client() -> None:
    """get_client reads request.config_dict: a sub-app's handler finds the parent's client."""
    parent = web.Application()
    aiohttp_integration.setup(parent, **CLIENT)
    sub = web.Application()

    async def proxy(request: web.Request) -> web.Response:
        return web.json_response((await aiohttp_integration.get_client(request).request("GET", "ok")).data)

    sub.router.add_get("/x", proxy)
    parent.add_subapp("/sub", sub)
    async with serve(parent) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/sub/x") as resp:
            assert resp.status == 200 and await resp.json() == {"id": "ok"}


async def test_aiohttp_missing_setup_names_setup() -> None:
    """get_client without setup() is a clear error naming setup, answered as JSON."""
    app = web.Application(middlewares=[aiohttp_integration.error_middleware])

    async def handler(request: web.Request) -> web.Response:
        aiohttp_integration.get_client(request)
        return web.Response()

    app.router.add_get("/", handler)
    async with serve(app) as base, aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            assert resp.status == 500 and (await resp.json())["error"] == "internal_error"


async def test_install_composes_with_an_existing_lifespan() -> None:
    """The app's own lifespan still runs, inside the client's: its startup can use the client,
    its state reaches requests, and the client closes after it."""
    seen: list[str] = []

    @asynccontextmanager
    async def mine(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        seen.append(f"start:{app.state.salescaling.state.value}")
        yield {"mine": 1}
        seen.append(f"stop:{app.state.salescaling.state.value}")

    app = FastAPI(lifespan=mine)
    fastapi_integration.install(app, **CLIENT)
    async with app.router.lifespan_context(app) as state:
        assert state is not None and state["mine"] == 1 and isinstance(state["salescaling"], AsyncSalescaling)
    assert seen == ["start:open", "stop:open"]
    assert app.state.salescaling.state.value == "closed"


async def test_fastapi_disconnect_cancels_the_queued_call() -> None:
    """A client that disconnects while its handler's SDK call is queued: the handler is
    cancelled, the call leaves the queue, and nothing more is sent upstream."""
    transport = FakeTransport(_upstream)
    app = _fastapi_app(
        **{
            **CLIENT,
            "transport": transport,
            "limits": RateLimits([Window("w", 1, 60.0)]),
            "retry": RetryConfig(attempts=1, timeout=300.0),
        }
    )
    gone = asyncio.Event()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            sent.append("body")
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "path": "/x/ok",
            "raw_path": b"/x/ok",
            "query_string": b"",
            "headers": [],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("x", 80),
            "client": ("y", 1),
            "root_path": "",
            "asgi": {"version": "3.0"},
            "state": dict(state or {}),
        }

    async with app.router.lifespan_context(app) as state:
        client: AsyncSalescaling = app.state.salescaling
        await client.request("GET", "ok")  # the key's one slot
        call = asyncio.create_task(app(scope(), receive, send))
        for _ in range(200):
            await settle()
            if sum(client.statistics().queued.values()) == 1:
                break
        assert sum(client.statistics().queued.values()) == 1
        gone.set()
        await asyncio.wait_for(call, 10)
        assert sum(client.statistics().queued.values()) == 0
        assert len(transport.requests) == 1 and sent == ["body"]


async def test_aiohttp_disconnect_cancels_the_queued_call() -> None:
    """With handler_cancellation=True, a client that goes away takes its queued call with it."""
    transport = FakeTransport(_upstream)
    app = _aiohttp_app(
        **{
            **CLIENT,
            "transport": transport,
            "limits": RateLimits([Window("w", 1, 60.0)]),
            "retry": RetryConfig(attempts=1, timeout=300.0),
        }
    )
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = app[aiohttp_integration.CLIENT_KEY]
        await client.request("GET", "ok")
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x/ok HTTP/1.1\r\nHost: x\r\n\r\n")
        for _ in range(2000):
            await asyncio.sleep(0.005)
            if sum(client.statistics().queued.values()) == 1:
                break
        writer.close()
        for _ in range(2000):
            await asyncio.sleep(0.005)
            if sum(client.statistics().queued.values()) == 0:
                break
        assert sum(client.statistics().queued.values()) == 0
        assert len(transport.requests) == 1
    finally:
        await runner.cleanup()


async def test_upstream_down_fails_fast_behind_the_breaker() -> None:
    """With the API unreachable (a closed port, the real transport), the first calls answer
    502; once the web-default breaker opens, calls answer 503 with Retry-After at once."""
    port = _closed_port()
    app = _fastapi_app(
        api_key=KEY, base_url=f"http://127.0.0.1:{port}/api/v1/", retry=RetryConfig(attempts=1, timeout=5.0)
    )
    async with running_fastapi(app) as http:
        statuses = [(await http.get("/x/ok")) for _ in range(7)]
    assert [r.status_code for r in statuses] == [502] * 5 + [503] * 2
    assert statuses[-1].json()["error"] == "upstream_down" and 1 <= int(statuses[-1].headers["Retry-After"]) <= 10


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns: connections are refused


async def test_disconnect_after_the_response_spares_background_tasks() -> None:
    """A disconnect after the response is complete cancels nothing: background tasks finish."""
    finished = asyncio.Event()
    release = asyncio.Event()
    app = FastAPI()
    app.add_middleware(fastapi_integration.CancelOnDisconnect)

    async def later() -> None:
        await release.wait()
        finished.set()

    @app.get("/bg")
    async def bg(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(later)
        return {"ok": True}

    messages = [{"type": "http.request", "body": b"", "more_body": False}, {"type": "http.disconnect"}]
    sent: list[Any] = []

    responded = asyncio.Event()

    async def receive() -> Any:
        if len(messages) == 1:  # the disconnect only once the response went out
            await responded.wait()
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            responded.set()

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/bg",
        "raw_path": b"/bg",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("x", 80),
        "client": ("y", 1),
        "root_path": "",
        "asgi": {"version": "3.0"},
    }
    call = asyncio.create_task(app(scope, receive, send))
    await settle(50)
    release.set()
    await asyncio.wait_for(call, 10)
    assert finished.is_set() and sent[0]["status"] == 200
