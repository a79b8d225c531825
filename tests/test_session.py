"""The request pipeline over a fake transport: errors, envelope, retries, security, lifecycle."""

from __future__ import annotations

import asyncio
import calendar
import gc
import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from salescaling_async import (
    APIStatusError,
    AsyncSalescaling,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigError,
    ConnectError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ReadError,
    RequestTimeoutError,
    ResponseValidationError,
    RetryConfig,
    ScopeError,
    ServerError,
)
from salescaling_async._backoff import retry_hints
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.testing import FakeClock, FakeTransport, json_response, no_retries, text_response

KEY = "sk_live_SECRET_1234"
BASE = "https://api.salescaling.com/api/v1/"


def _client(clock: FakeClock, handler: Callable[[RawRequest], Any], **kwargs: Any) -> AsyncSalescaling:
    return AsyncSalescaling(KEY, transport=FakeTransport(handler), clock=clock, seed=1, **kwargs)


def _sequence(*responses: Any) -> Callable[[RawRequest], RawResponse]:
    items = list(responses)

    def handler(request: RawRequest) -> RawResponse:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    return handler


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, BadRequestError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(403, PermissionDeniedError, id="403"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(422, BadRequestError, id="422"),
        pytest.param(429, RateLimitedError, id="429"),
        pytest.param(500, ServerError, id="500"),
        pytest.param(503, ServerError, id="503"),
        pytest.param(418, APIStatusError, id="418"),
    ],
)
async def test_every_status_maps_to_its_error(clock: FakeClock, drive: Any, status: int, error: type) -> None:
    """Each error status raises its class with the status, method, safe URL and message."""
    body = {"statusCode": status, "count": 0, "error": "it went wrong", "data": None}
    client = _client(clock, lambda r: json_response(body, status=status, envelope=False), retry=no_retries())
    with pytest.raises(error) as info:
        await drive(client.request("GET", "contacts"))
    exc = info.value
    assert type(exc) is error
    assert exc.status_code == status and exc.method == "GET" and exc.message == "it went wrong"
    assert exc.body == body
    assert KEY not in str(exc) and KEY not in exc.url


async def test_envelope_is_unwrapped(clock: FakeClock, drive: Any) -> None:
    """A success returns the envelope's data and count."""
    client = _client(clock, lambda r: json_response([{"id": "a"}], count=7))
    envelope = await drive(client.request("GET", "contacts", params={"page": 1}))
    assert envelope.data == [{"id": "a"}] and envelope.count == 7 and envelope.status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"statusCode": 200, "da', id="truncated"),
        pytest.param("<html><body>Bad gateway</body></html>", id="html"),
        pytest.param('{"no": "envelope"}', id="not-envelope"),
    ],
)
async def test_malformed_bodies_raise_validation_error_with_raw_text(clock: FakeClock, drive: Any, text: str) -> None:
    """A 200 that is not JSON or not the envelope is a ResponseValidationError keeping the text."""
    client = _client(clock, lambda r: text_response(text))
    with pytest.raises(ResponseValidationError) as info:
        await drive(client.request("GET", "contacts"))
    assert info.value.raw == text


async def test_html_error_page_keeps_text_as_body(clock: FakeClock, drive: Any) -> None:
    """An HTML 502 page is a ServerError whose body is the page text."""
    client = _client(clock, lambda r: text_response("<html>oops</html>", status=502), retry=no_retries())
    with pytest.raises(ServerError) as info:
        await drive(client.request("GET", "contacts"))
    assert info.value.body == "<html>oops</html>"


class _Recorder:
    """A handler that records the fake time of every attempt."""

    def __init__(self, clock: FakeClock, *responses: Any) -> None:
        self.clock = clock
        self.times: list[float] = []
        self._next = _sequence(*responses)

    def __call__(self, request: RawRequest) -> RawResponse:
        self.times.append(self.clock.now())
        return self._next(request)

    @property
    def waits(self) -> list[float]:
        return [round(b - a, 3) for a, b in itertools.pairwise(self.times)]


async def test_5xx_retried_for_get_with_capped_exponential_backoff(clock: FakeClock, drive: Any) -> None:
    """GET 500s are retried up to ``attempts`` with full-jitter waits under 1, 2, 4 s."""
    rec = _Recorder(clock, json_response(None, status=500))
    client = _client(clock, rec)
    with pytest.raises(ServerError):
        await drive(client.request("GET", "contacts"))
    assert len(rec.times) == 4
    for wait, cap in zip(rec.waits, [1, 2, 4], strict=True):
        assert 0 <= wait <= cap


async def test_no_jitter_gives_exact_exponential_waits(clock: FakeClock, drive: Any) -> None:
    """Without jitter the waits are exactly 1, 2, 4 seconds (capped by wait_max)."""
    rec = _Recorder(clock, json_response(None, status=502))
    client = _client(clock, rec, retry=RetryConfig(attempts=5, wait_jitter=False, wait_max=3))
    with pytest.raises(ServerError):
        await drive(client.request("GET", "contacts"))
    assert rec.waits == [1.0, 2.0, 3.0, 3.0]


async def test_post_is_not_resent_after_a_5xx(clock: FakeClock, drive: Any) -> None:
    """A POST that reached the server is never resent on a 5xx (nothing is created twice)."""
    rec = _Recorder(clock, json_response(None, status=500))
    client = _client(clock, rec)
    with pytest.raises(ServerError):
        await drive(client.request("POST", "contacts", json={"firstName": "A"}))
    assert len(rec.times) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # A named window is then treated as full: it frees one window length after the 429.
        pytest.param({"Retry-After-long": "5"}, 60.0, id="suffixed-long-full"),
        pytest.param({"retry-after": "3"}, 3.0, id="plain-lowercase"),
        pytest.param({"RETRY-AFTER-SHORT": "1", "Retry-After-medium": "7"}, 10.0, id="medium-full"),
        pytest.param({"Retry-After-short": "1", "Retry-After": "12"}, 12.0, id="largest-hint"),
    ],
)
async def test_429_waits_for_the_largest_hint_then_retries_even_post(
    clock: FakeClock, drive: Any, headers: dict[str, str], expected: float
) -> None:
    """A 429 pauses the key for the largest hint and fills the named windows, then the POST
    is retried once both have passed."""
    rec = _Recorder(clock, json_response(None, status=429, headers=headers), json_response({"id": "x"}))
    client = _client(clock, rec)
    envelope = await drive(client.request("POST", "contacts", json={}))
    assert envelope.data == {"id": "x"}
    assert len(rec.times) == 2
    assert expected <= rec.waits[0] <= expected + 0.1
    assert client.statistics().rate_limited == 1


def test_http_date_hint_is_seconds_from_the_wall_clock_given() -> None:
    """An HTTP-date Retry-After is the date minus the wall-clock time passed in (exactly)."""
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    epoch = calendar.timegm((1994, 11, 6, 8, 49, 37))
    assert retry_hints((("Retry-After", date),), wall_now=epoch - 30) == {None: 30.0}
    assert retry_hints((("Retry-After", date),), wall_now=epoch + 5) == {None: 0.0}  # past: no wait


@pytest.mark.parametrize(
    ("date", "attempts"),
    [
        pytest.param("Sun, 06 Nov 1994 08:49:37 GMT", 2, id="past-date-retries"),
        pytest.param("Fri, 31 Dec 9999 23:59:59 GMT", 1, id="far-future-raises-at-once"),
    ],
)
async def test_429_with_http_date_hint(clock: FakeClock, drive: Any, date: str, attempts: int) -> None:
    """The pipeline reads HTTP-dates against the wall clock: past means retry, far future means give up.

    Both dates give the same outcome whatever the real time is, so the test never reads it.
    """
    rec = _Recorder(clock, json_response(None, status=429, headers={"Retry-After": date}), json_response(1))
    client = _client(clock, rec)
    if attempts == 1:
        with pytest.raises(RateLimitedError) as info:
            await drive(client.request("GET", "contacts"))
        assert info.value.retry_after == 3600.0  # clamped, and beyond max_retry_after
    else:
        assert (await drive(client.request("GET", "contacts"))).data == 1
    assert len(rec.times) == attempts


async def test_hint_beyond_deadline_raises_at_once(clock: FakeClock, drive: Any) -> None:
    """If the server's wait would pass the caller's deadline, RateLimitedError comes at once."""
    rec = _Recorder(clock, json_response(None, status=429, headers={"Retry-After-long": "60"}))
    client = _client(clock, rec, retry=RetryConfig(timeout=10))
    start = clock.now()
    with pytest.raises(RateLimitedError) as info:
        await drive(client.request("GET", "contacts"))
    assert info.value.retry_after == 60
    assert clock.now() == start and len(rec.times) == 1


@pytest.mark.parametrize(
    ("method", "error", "attempts"),
    [
        pytest.param("GET", ReadError("reset", method="GET", url=BASE, sent=True), 4, id="get-read"),
        pytest.param("POST", ReadError("reset", method="POST", url=BASE, sent=True), 1, id="post-read"),
        pytest.param("POST", ConnectError("refused", method="POST", url=BASE), 4, id="post-connect"),
        pytest.param("POST", RequestTimeoutError("t", method="POST", url=BASE, sent=True), 1, id="post-timeout"),
        pytest.param("PUT", RequestTimeoutError("t", method="PUT", url=BASE, sent=True), 4, id="put-timeout"),
    ],
)
async def test_transport_errors_retried_by_method(
    clock: FakeClock, drive: Any, method: str, error: Exception, attempts: int
) -> None:
    """Unsent failures are always retried; sent ones only for idempotent methods."""
    rec = _Recorder(clock, error)
    client = _client(clock, rec)
    with pytest.raises(type(error)):
        await drive(client.request(method, "contacts", json={}))
    assert len(rec.times) == attempts


async def test_503_with_retry_after_is_retried_for_post(clock: FakeClock, drive: Any) -> None:
    """A 503 carrying Retry-After refused the work, so even a POST is retried after the hint."""
    rec = _Recorder(clock, json_response(None, status=503, headers={"Retry-After": "2"}), json_response(1))
    client = _client(clock, rec)
    await drive(client.request("POST", "contacts", json={}))
    assert rec.waits == [2.0]


async def test_overall_deadline_stops_retries(clock: FakeClock, drive: Any) -> None:
    """Backoff never sleeps past the overall deadline."""
    rec = _Recorder(clock, json_response(None, status=500))
    client = _client(clock, rec, retry=RetryConfig(attempts=10, timeout=2.5, wait_jitter=False))
    with pytest.raises(ServerError):
        await drive(client.request("GET", "contacts"))
    assert clock.now() - rec.times[0] <= 2.5


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_the_key_never_leaks(clock: FakeClock, drive: Any) -> None:
    """Not in repr, str, exceptions, URLs or debug logs."""
    capture = _LogCapture()
    logger = logging.getLogger("salescaling_async")
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        transport = FakeTransport(lambda r: json_response(None, status=401))
        client = AsyncSalescaling(KEY, transport=transport, clock=clock, seed=1, retry=RetryConfig(attempts=1))
        with pytest.raises(AuthenticationError) as info:
            await drive(client.request("GET", "contacts", params={"q": "x"}))
        client_with_retries = _client(clock, _sequence(json_response(None, status=500), json_response(1)))
        await drive(client_with_retries.request("GET", "contacts"))
    finally:
        logger.removeHandler(capture)
        logger.setLevel(logging.NOTSET)
    exc = info.value
    texts = [repr(client), str(client), str(exc), repr(exc), exc.url, repr(exc.body), *capture.lines]
    texts += [repr(r) for r in transport.requests]
    assert capture.lines, "debug logging produced nothing to check"
    for text in texts:
        assert KEY not in text
    assert all("x-api-key" not in r.url for r in transport.requests)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("abc def", id="space"),
        pytest.param("abc\r\nX-Evil: 1", id="header-injection"),
        pytest.param("abc\t", id="tab"),
        pytest.param("clé", id="non-ascii"),
    ],
)
def test_bad_keys_are_refused_before_sending(key: str) -> None:
    """Empty keys and keys with whitespace or control characters raise ConfigError."""
    with pytest.raises(ConfigError) as info:
        AsyncSalescaling(key)
    assert key not in str(info.value) or not key


def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SALESCALING_API_KEY and SALESCALING_BASE_URL configure the client."""
    monkeypatch.setenv("SALESCALING_API_KEY", "env_key")
    monkeypatch.setenv("SALESCALING_BASE_URL", "http://127.0.0.1:9/api/v1")
    client = AsyncSalescaling()
    assert client.base_url == "http://127.0.0.1:9/api/v1/"
    monkeypatch.delenv("SALESCALING_API_KEY")
    with pytest.raises(ConfigError):
        AsyncSalescaling()


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        pytest.param("http://api.example.com/", False, id="plain-http-remote"),
        pytest.param("http://localhost:8080/api/v1/", True, id="loopback"),
        pytest.param("https://user:pw@api.example.com/", False, id="credentials"),
        pytest.param("ftp://x/", False, id="scheme"),
    ],
)
def test_base_url_rules(url: str, ok: bool) -> None:
    """Plain http only to loopback; no credentials in the base URL."""
    if ok:
        AsyncSalescaling(KEY, base_url=url)
    else:
        with pytest.raises(ConfigError):
            AsyncSalescaling(KEY, base_url=url)
    AsyncSalescaling(KEY, base_url="http://api.example.com/", allow_insecure=True)


async def test_cross_origin_redirect_drops_the_key(clock: FakeClock, drive: Any) -> None:
    """A redirect to another origin is followed without the key; same-origin keeps it."""

    def handler(request: RawRequest) -> RawResponse:
        if request.url.startswith("https://evil.example.com"):
            return json_response({"stolen": request.headers.get("x-api-key")})
        if request.url.endswith("same"):
            return json_response(None, status=307, headers={"Location": "/api/v1/final"})
        if request.url.endswith("final"):
            return json_response({"key_present": "x-api-key" in request.headers})
        return json_response(None, status=302, headers={"Location": "https://evil.example.com/x"})

    client = _client(clock, handler)
    assert (await drive(client.request("GET", "contacts"))).data == {"stolen": None}
    assert (await drive(client.request("GET", "same"))).data == {"key_present": True}


async def test_scope_checked_before_spending_budget(clock: FakeClock, drive: Any) -> None:
    """A scoped client raises ScopeError naming the scope, with no request and no grant."""
    calls: list[RawRequest] = []
    client = _client(clock, lambda r: calls.append(r) or json_response([]), scopes={"contacts:read"})
    with pytest.raises(ScopeError) as info:
        await drive(client.calls.list().first_page())
    assert info.value.scope == "calls:read"
    assert calls == [] and client.statistics().granted == 0
    with pytest.raises(ConfigError):
        _client(clock, lambda r: json_response([]), scopes={"calls:reed"})


async def test_403_names_the_needed_scope(clock: FakeClock, drive: Any) -> None:
    """A 403 becomes PermissionDeniedError saying which scope the endpoint needs."""
    client = _client(clock, lambda r: json_response(None, status=403), retry=no_retries())
    with pytest.raises(PermissionDeniedError) as info:
        await drive(client.opportunities.list().first_page())
    assert info.value.scope == "opportunities:read" and "opportunities:read" in str(info.value)


async def test_closed_client_refuses_work(clock: FakeClock) -> None:
    """After aclose() every call raises ClientClosedError; closing twice is fine."""
    client = _client(clock, lambda r: json_response(1))
    async with client:
        pass
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.request("GET", "contacts")


async def test_other_event_loop_is_refused(clock: FakeClock, drive: Any) -> None:
    """A client bound to one loop raises a clear error when used from another."""
    client = _client(clock, lambda r: json_response(1))
    await drive(client.request("GET", "contacts"))
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            asyncio.run(client.request("GET", "contacts"))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], ClientClosedError)


async def test_with_key_has_its_own_budget_and_shares_the_pool(clock: FakeClock, drive: Any) -> None:
    """A with_key view shares transport and scheduler but counts against its own key."""
    seen: list[str] = []
    client = _client(clock, lambda r: seen.append(r.headers["x-api-key"]) or json_response(1))
    other = client.with_key("tenant_two_key")
    await drive(client.request("GET", "contacts"))
    await drive(other.request("GET", "contacts"))
    assert seen == [KEY, "tenant_two_key"]
    assert other.scheduler is client.scheduler  # one scheduler; one transport: `seen` saw both
    assert client.statistics().granted == 1 and other.statistics().granted == 1
    assert client.statistics().key != other.statistics().key


async def test_a_view_made_per_request_is_freed_at_once(clock: FakeClock, drive: Any) -> None:
    """A dropped ``with_key`` view, used in every mode, is freed by reference counting alone.

    A multi-tenant service may make a view per request: a reference cycle (a bound method kept
    on its resource) would keep each one, its key's headers included, until the collector ran.
    """

    def handler(request: RawRequest) -> RawResponse:
        record = {"id": "c1"}
        return json_response(record if request.url.endswith("/c1") else [record], count=1)

    client = _client(clock, handler)
    gc.collect()
    gc.disable()
    try:
        view = client.with_key("tenant_two_key")
        contacts = view.contacts
        await drive(contacts.list(page_size=5).first_page())
        await drive(contacts.get("c1"))
        await drive(contacts.with_raw_response.list(page_size=5))
        await drive(contacts.with_raw_response.get("c1"))
        assert callable(contacts.create) and callable(contacts.create_many)
        await drive(view.request("GET", "contacts"))
        alive = [weakref.ref(view), weakref.ref(contacts), weakref.ref(view._pipeline)]
        del view, contacts
        assert [ref() for ref in alive] == [None, None, None]
    finally:
        gc.enable()


async def test_cancel_while_in_flight_holds_the_slot(clock: FakeClock) -> None:
    """A request cancelled after sending began may still count: its slot is held, not returned."""
    gate, sending = asyncio.Event(), asyncio.Event()

    async def slow(request: RawRequest) -> RawResponse:
        sending.set()
        await gate.wait()
        return json_response(1)

    client = _client(clock, slow)
    task = asyncio.create_task(client.request("GET", "contacts"))
    await sending.wait()  # the state: the transport holds the request
    assert client.statistics().in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = client.statistics()
    assert stats.in_flight == 0 and stats.held["short"] == 1  # held conservatively (now + horizon + W)
    clock.advance(1.5)
    assert client.statistics().held["short"] == 1


async def test_timeouts_configuration(clock: FakeClock, drive: Any) -> None:
    """Finite defaults; a number sets the total; None disables; with_options keeps or overrides."""
    from salescaling_async import UNSET, Timeouts

    sent: list[Timeouts] = []

    def handler(request: RawRequest) -> RawResponse:
        sent.append(request.timeouts)
        return json_response(1)

    client = _client(clock, handler)
    views = [
        client,
        _client(clock, handler, timeout=5),
        _client(clock, handler, timeout=None),
        client.with_options(timeout=UNSET),
        client.with_options(timeout=2),
    ]
    for view in views:
        await drive(view.request("GET", "contacts"))
    assert Timeouts().total is not None
    none = Timeouts(connect=None, read=None, total=None)
    assert sent == [Timeouts(), Timeouts(total=5.0), none, Timeouts(), Timeouts(total=2.0)]
    with pytest.raises(ConfigError):
        AsyncSalescaling(KEY, timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Timeouts(connect=-1)
