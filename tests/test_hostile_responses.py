"""Hostile and broken responses through the whole pipeline: a result or a SalescalingError.

Runs an ``AsyncSalescaling`` over ``FakeTransport`` on virtual time (``FakeClock``); every
example is also bounded in real time, so a hang fails instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salescaling_async import (
    AsyncSalescaling,
    BadRequestError,
    PermissionDeniedError,
    RateLimitedError,
    RateLimits,
    ResponseValidationError,
    RetryConfig,
    SalescalingError,
    Window,
)
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.models import ContactCreate
from salescaling_async.testing import FakeClock, FakeTransport, json_response, no_retries

from .conftest import drive as drive_on
from .strategies import json_values

# -- targeted cases ----------------------------------------------------------------------------


def _client(clock: FakeClock, *responses: RawResponse, **kwargs: Any) -> tuple[AsyncSalescaling, list[float]]:
    times: list[float] = []
    cycle = itertools.cycle(responses)

    def handler(request: RawRequest) -> RawResponse:
        times.append(clock.now())
        return next(cycle)

    return AsyncSalescaling("k", transport=FakeTransport(handler), clock=clock, seed=1, **kwargs), times


def _raw(status: int, body: bytes, headers: dict[str, str] | None = None) -> RawResponse:
    return RawResponse(status, tuple((headers or {}).items()), body, "http://fake/")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"  \n\t ", id="whitespace-only"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100000"),
        pytest.param(b'{"data": "\xff"}', id="invalid-utf8"),
    ],
)
async def test_broken_success_bodies_are_validation_errors(clock: FakeClock, drive: Any, body: bytes) -> None:
    """A blank, absurdly deep or non-UTF-8 success body is a ResponseValidationError, not data."""
    client, _ = _client(clock, _raw(200, body))
    with pytest.raises(ResponseValidationError):
        await drive(client.request("GET", "contacts"))


async def test_nestjs_error_body_carries_the_servers_words(clock: FakeClock, drive: Any) -> None:
    """NestJS ``message`` (a list) is the message, ``error`` the reason, both on the exception."""
    body = {
        "statusCode": 400,
        "message": ["email must be an email", "name should not be empty"],
        "error": "Bad Request",
    }
    client, _ = _client(clock, json_response(body, status=400, envelope=False))
    with pytest.raises(BadRequestError) as info:
        await drive(client.request("POST", "contacts", json={}))
    error = info.value
    assert error.message == "email must be an email; name should not be empty"
    assert error.reason == "Bad Request" and error.messages == tuple(body["message"])  # type: ignore[arg-type]
    assert "email must be an email" in str(error)


async def test_nestjs_forbidden_string_message(clock: FakeClock, drive: Any) -> None:
    """A string ``message`` is the message; the generic ``error`` is only the reason."""
    body = {"statusCode": 403, "message": "Missing scope contacts:write", "error": "Forbidden"}
    client, _ = _client(clock, json_response(body, status=403, envelope=False))
    with pytest.raises(PermissionDeniedError) as info:
        await drive(client.request("GET", "contacts"))
    assert info.value.message == "Missing scope contacts:write" and info.value.reason == "Forbidden"


async def test_hint_beyond_max_retry_after_raises_at_once_without_wedging_the_key(clock: FakeClock, drive: Any) -> None:
    """A 429 asking for 1e9 s raises at once; the key is paused only max_retry_after, not an hour."""
    client, times = _client(
        clock,
        json_response(None, status=429, headers={"Retry-After": "1000000000"}),
        json_response([]),
        retry=RetryConfig(max_retry_after=30),
    )
    start = clock.now()
    with pytest.raises(RateLimitedError) as info:
        await drive(client.request("GET", "contacts"))
    assert info.value.retry_after == 3600 and clock.now() == start
    assert client.statistics().paused_for <= 30.1
    await drive(client.request("GET", "contacts"))  # the next call waits the short pause only
    assert times[1] - start <= 30.1


@pytest.mark.parametrize("value", ["1_0", "\u0661\u0660", "1e1", "10.0"])
async def test_non_rfc_retry_after_is_ignored(clock: FakeClock, drive: Any, value: str) -> None:
    """``1_0`` and friends are not 10 s: the 429 falls back to the first backoff step (1 s)."""
    client, times = _client(clock, json_response(None, status=429, headers={"Retry-After": value}), json_response([]))
    await drive(client.request("GET", "contacts"))
    assert len(times) == 2 and times[1] - times[0] < 2.0


async def test_malformed_location_is_a_typed_error(clock: FakeClock, drive: Any) -> None:
    """``Location: http://[::1`` is a SalescalingError, not a bare ValueError."""
    client, _ = _client(clock, _raw(302, b"", {"Location": "http://[::1"}))
    with pytest.raises(SalescalingError):
        await drive(client.request("GET", "contacts"))


# -- the whole pipeline under random responses -------------------------------------------------

HEADER_NAMES = [
    "Retry-After",
    "Retry-After-short",
    "retry-after-long",
    "Retry-After-Ms",
    "X-RateLimit-Limit-short",
    "X-RateLimit-Remaining-short",
    "X-RateLimit-Reset-long",
    "x-request-id",
    "Content-Type",
    "Location",
]
header_values = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 10**12).map(str),
    st.sampled_from(
        [
            "1_0",
            "inf",
            "NaN",
            "1e400",
            "\u0661",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "/contacts",
            "https://other.example/",
            "http://[::1",
        ]
    ),
)
headers = st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=4)
statuses = st.one_of(
    st.sampled_from([200, 201, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404, 422, 429, 500, 502, 503]),
    st.integers(100, 599),
)
records = st.dictionaries(
    st.sampled_from(["id", "callId", "firstName", "name", "email", "direction", "aiScore", "createdAt", "x"]),
    json_values,
    max_size=4,
)
envelopes = st.fixed_dictionaries(
    {"data": st.one_of(st.lists(records, max_size=6), records, json_values)},
    optional={"statusCode": json_values, "count": st.one_of(st.integers(-1, 100), json_values), "error": json_values},
)
nest_errors = st.fixed_dictionaries(
    {"statusCode": st.integers(), "message": st.one_of(st.text(), st.lists(json_values)), "error": json_values}
)
bodies = st.one_of(
    envelopes.map(lambda v: json.dumps(v).encode()),
    nest_errors.map(lambda v: json.dumps(v).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"   ", b"[" * 5000, b'{"data": [1, 2', b"\xef\xbb\xbf{}", b'{"data": NaN}']),
)
locations = st.sampled_from(
    ["/api/v1/contacts", "https://other.example/x", "http://other.example/", "", "//evil/", "http://[::1", "ftp://x/"]
)
redirects = st.builds(
    lambda status, body, target, more: _raw(status, body, {**dict(more), "Location": target}),
    st.sampled_from([301, 302, 303, 307, 308]),
    bodies,
    locations,
    headers,
)
responses = st.one_of(st.builds(_raw, statuses, bodies, headers.map(dict)), redirects)

Operation = Callable[[AsyncSalescaling], Awaitable[Any]]
OPERATIONS: dict[str, Operation] = {
    "request": lambda c: c.request("GET", "contacts"),
    "get": lambda c: c.contacts.get("abc"),
    "create": lambda c: c.contacts.create(ContactCreate(first_name="A")),
    "list-contacts": lambda c: c.contacts.list(page_size=3).to_list(),
    "list-calls": lambda c: c.calls.list(page_size=3, prefetch=1).to_list(),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(responses, min_size=1, max_size=4), st.sampled_from(sorted(OPERATIONS)))
def test_any_response_ends_in_a_result_or_a_salescaling_error(answers: list[RawResponse], operation: str) -> None:
    """Random statuses, headers and bodies: never another exception, never a hang."""

    async def run() -> None:
        clock = FakeClock()
        client, _ = _client(clock, *answers)
        try:
            await asyncio.wait_for(drive_on(clock, OPERATIONS[operation](client), limit=100_000.0), timeout=20)
        except SalescalingError:
            pass
        finally:
            await client.aclose()

    asyncio.run(run())


# -- the same through a real loopback server and AiohttpTransport -------------------------------

Answer = tuple[int, list[tuple[str, str]], bytes]


@contextlib.contextmanager
def _replay_server(answers: list[Answer]) -> Iterator[str]:
    """A loopback aiohttp server answering request N with ``answers[N % len(answers)]``."""
    from aiohttp import web

    served = itertools.count()

    async def handler(request: web.Request) -> web.StreamResponse:
        status, headers, body = answers[next(served) % len(answers)]
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(30)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        asyncio.run_coroutine_threadsafe(site.start(), loop).result(30)
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/api/v1/"  # type: ignore[union-attr]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


wire_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
wire_headers = st.lists(
    st.tuples(
        st.sampled_from([*HEADER_NAMES, "Content-Encoding"]),
        st.one_of(wire_text, st.sampled_from(["gzip", "deflate", "br", "identity", "1_0", "/api/v1/contacts"])),
    ),
    max_size=4,
)
wire_answers = st.tuples(
    st.one_of(st.sampled_from([200, 201, 302, 303, 400, 403, 404, 429, 500, 503]), st.integers(200, 599)),
    wire_headers,
    bodies,
)


@pytest.fixture(name="replay", scope="module")
def _replay() -> Iterator[tuple[str, list[Answer]]]:
    answers: list[Answer] = [(200, [], b"{}")]
    with _replay_server(answers) as url:
        yield url, answers


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.lists(wire_answers, min_size=1, max_size=3), st.sampled_from(["request", "get", "list-contacts"]))
def test_any_wire_response_ends_in_a_result_or_a_salescaling_error(
    replay: tuple[str, list[Answer]], answers: list[Answer], operation: str
) -> None:
    """The same property over real HTTP: aiohttp's parsing and decoding included."""
    url, current = replay
    current[:] = answers
    limits = RateLimits((Window("none", 10**6, 1.0),))

    async def run() -> None:
        async with AsyncSalescaling("k", base_url=url, limits=limits, retry=no_retries(), timeout=5.0) as client:
            with contextlib.suppress(SalescalingError):
                await asyncio.wait_for(OPERATIONS[operation](client), timeout=30)

    asyncio.run(run())
