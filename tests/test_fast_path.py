"""The per-call fast paths give what the general paths give: grants, settlements, retries, logs.

The pipeline sends a quiet attempt (no breaker, no event listener) in a slot taken by the
scheduler's synchronous :meth:`Scheduler.try_acquire`; the general path goes through
``_send_keyed`` and :meth:`Scheduler.acquire`.  Every scenario runs on both (the general one
forced by a ``try_acquire`` that never grants) and must end the same.  New keys start with the
budget credit a first look would find, and share the scheduler's empty lanes until they queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async import (
    AsyncSalescaling,
    ConnectError,
    RateLimits,
    ReadError,
    RetryConfig,
    Window,
)
from salescaling_async._budget import KeyBudget
from salescaling_async._clock import LoopClock
from salescaling_async._config import Timeouts
from salescaling_async._convert import Envelope, unwrap_envelope
from salescaling_async._frozen import positional_maker
from salescaling_async._pagination import Page, make_page
from salescaling_async._pipeline import Pipeline
from salescaling_async._request import RawRequest, RawResponse, make_request, make_response
from salescaling_async._scheduler import Scheduler
from salescaling_async.testing import FakeClock, FakeTransport, json_response, text_response

from .conftest import drive

KEY = "sk_live_SECRET_1234"
BASE = "https://api.salescaling.com/api/v1/"


def _connect(request: RawRequest) -> Exception:
    return ConnectError("refused", method=request.method, url=request.url)


def _read(request: RawRequest) -> Exception:
    return ReadError("reset", method=request.method, url=request.url, sent=True)


SCENARIOS: dict[str, list[Any]] = {
    "ok": [json_response([{"id": "c1"}])],
    "rate headers": [json_response([], headers={"X-RateLimit-Limit-short": "10", "X-RateLimit-Remaining-short": "7"})],
    "429 with Retry-After, then ok": [json_response(None, status=429, headers={"Retry-After": "2"}), json_response([])],
    "hintless 429, then ok": [json_response(None, status=429), json_response([])],
    "503 twice, then ok": [json_response(None, status=503), json_response(None, status=503), json_response([])],
    "connect error, then ok": [_connect, json_response([])],
    "read error, then ok": [_read, json_response([])],
    "404": [json_response(None, status=404)],
    "bad body": [text_response("<html>oops</html>")],
    "redirect, then ok": [
        RawResponse(302, (("Location", BASE + "contacts?page=2"),), b"", BASE + "contacts"),
        json_response([{"id": "c2"}]),
    ],
    "500 every time": [json_response(None, status=500)] * 5,
}


def _handler(clock: FakeClock, script: list[Any], times: list[float]) -> Callable[[RawRequest], RawResponse]:
    answers = iter(script)

    def handle(request: RawRequest) -> RawResponse:
        times.append(clock.now())
        answer = next(answers)
        if callable(answer):
            raise answer(request)
        assert isinstance(answer, RawResponse)
        return answer

    return handle


async def _run(script: list[Any], *, fast: bool, caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    clock = FakeClock()
    times: list[float] = []
    retry = RetryConfig(attempts=4, wait_jitter=False)
    client = AsyncSalescaling(
        KEY, base_url=BASE, transport=FakeTransport(_handler(clock, script, times)), clock=clock, seed=1, retry=retry
    )
    scheduler = client.scheduler
    assert isinstance(scheduler, Scheduler)
    if not fast:
        scheduler.try_acquire = lambda key, **kwargs: None  # type: ignore[method-assign]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="salescaling_async"):
        try:
            envelope = await drive(clock, client.request("GET", "contacts"))
            outcome: Any = ("ok", envelope.data, envelope.status_code)
        except Exception as error:
            outcome = ("error", type(error).__name__, str(error))
    stats = client.statistics()
    return {
        "outcome": outcome,
        "attempt times": [t - 1000.0 for t in times],
        "ended at": clock.now() - 1000.0,
        "held": dict(stats.held),
        "in flight": stats.in_flight,
        "granted": stats.granted,
        "rate limited": stats.rate_limited,
        "paused for": stats.paused_for,
        "logs": [r.getMessage() for r in caplog.records],
    }


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_fast_path_ends_like_the_general_path(
    name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same outcome, attempt times, settled slots, pauses and log lines on both paths."""
    general = await _run(SCENARIOS[name], fast=False, caplog=caplog)
    keyed = 0
    real = Pipeline._send_keyed

    async def counted(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        nonlocal keyed
        keyed += 1
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_send_keyed", counted)
    fast = await _run(SCENARIOS[name], fast=True, caplog=caplog)
    assert fast == general
    assert general["granted"] >= 1
    # the fast path is really taken whenever a slot is free at once (a paused key waits)
    assert keyed < general["granted"]


async def test_cancelled_send_settles_alike() -> None:
    """A call cancelled while sending holds its slot as ambiguous on both paths."""
    results = []
    for fast in (True, False):
        clock = FakeClock()
        started = asyncio.Event()

        async def hang(_request: RawRequest, started: asyncio.Event = started) -> RawResponse:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("never answered")

        client = AsyncSalescaling(KEY, base_url=BASE, transport=FakeTransport(hang), clock=clock)
        if not fast:
            client.scheduler.try_acquire = lambda key, **kwargs: None  # type: ignore[method-assign]
        task = asyncio.ensure_future(client.request("GET", "contacts"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = client.statistics()
        results.append((stats.in_flight, dict(stats.held), stats.granted))
    assert results[0] == results[1]
    assert results[0][0] == 0 and all(held == 1 for held in results[0][1].values())


async def test_try_acquire_grants_exactly_when_acquire_would_not_wait() -> None:
    """``try_acquire`` grants while the budget has room; then ``None``, changing no count."""
    clock = FakeClock()
    sched = Scheduler(RateLimits((Window("short", 3, 1.0),)), clock=clock, cold_start=False)
    permits = [sched.try_acquire("k") for _ in range(3)]
    assert all(p is not None for p in permits)
    assert sched.try_acquire("k") is None
    assert sched.statistics("k").granted == 3
    waiting = asyncio.ensure_future(sched.acquire("k"))
    await asyncio.sleep(0)
    assert not waiting.done()
    permits[0].received({})  # type: ignore[union-attr]
    clock.advance(1.0 + 0.01)
    await asyncio.sleep(0)
    assert waiting.done()
    assert sched.try_acquire("k") is None  # two still in flight, one held: full
    assert sched.statistics("k").granted == 4


@pytest.mark.parametrize(
    "windows",
    [
        (Window("short", 5, 1.0),),
        (Window("short", 20, 1.0), Window("medium", 100, 10.0), Window("long", 3, 60.0)),
        (Window("a", 1, 0.5), Window("b", 2, 5.0)),
    ],
)
def test_new_budget_starts_with_the_credit_a_first_look_finds(windows: tuple[Window, ...]) -> None:
    """The credit a new key starts with is exactly what a full look at its empty logs gives."""
    limits = RateLimits(windows)
    fresh = KeyBudget(limits)
    looked = KeyBudget(limits)
    looked._credit = 0
    assert looked.delay(1000.0) == 0
    assert fresh._credit == looked._credit == min(w.limit for w in windows)
    for _ in range(fresh._credit):  # and the credit never grants beyond the limits
        assert fresh.delay(1000.0) == 0
        fresh.record(now=1000.0)
    assert fresh.delay(1000.0) > 0


async def test_keys_share_the_empty_lanes_until_they_queue() -> None:
    """A key gets lanes of its own with its first waiter; the shared ones are never pushed to."""
    clock = FakeClock()
    sched = Scheduler(RateLimits((Window("short", 1, 1.0),)), clock=clock, cold_start=False)
    await sched.acquire("a")
    await sched.acquire("b")
    idle = sched._idle_lanes
    assert sched._keys["a"].lanes is idle and sched._keys["b"].lanes is idle
    waiting = asyncio.ensure_future(sched.acquire("a"))
    await asyncio.sleep(0)
    assert sched._keys["a"].lanes is not idle and sched._keys["a"].lanes.queued == 1
    assert sched._keys["b"].lanes is idle and idle.queued == 0 and idle.peek() is None
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await sched.aclose()
    assert idle.queued == 0


def test_resources_are_built_once_per_view() -> None:
    """Each view builds its own resource on first access and keeps it."""
    client = AsyncSalescaling(KEY, base_url=BASE, transport=FakeTransport(lambda r: json_response([])))
    view = client.with_key("sk_live_OTHER_5678")
    assert client.contacts is client.contacts
    assert view.contacts is view.contacts
    assert view.contacts is not client.contacts
    assert view.contacts._client is view._pipeline
    assert client.contacts._client is client._pipeline
    assert "Contacts" in (type(client).contacts.__doc__ or "")


def test_loop_clock_reads_each_loops_own_time() -> None:
    """``LoopClock`` reads the running loop's time base, whichever loop runs it, and needs one."""
    clock = LoopClock()

    class Shifted(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return super().time() + 1e6

    async def read() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        now = clock.now()
        return before, now

    for loop in (asyncio.new_event_loop(), Shifted(), asyncio.new_event_loop()):
        try:
            before, now = loop.run_until_complete(read())
        finally:
            loop.close()
        assert before <= now <= before + 60  # the same time base: a shifted loop's too
    with pytest.raises(RuntimeError):
        clock.now()


@pytest.mark.parametrize("bound", [False, True], ids=["unbound", "bound"])
@pytest.mark.parametrize("patch", ["the loop's time", "time.monotonic after a first read"])
def test_loop_clock_follows_a_patched_time_base(patch: str, bound: bool) -> None:
    """``now()`` reads what the loop's ``call_at`` schedules by, also when that is patched:
    virtual-time tools (``aiotools.VirtualClock``, ``asynctest``) patch ``loop.time`` on the
    instance, and a ``time.monotonic`` patch entered after the client's first call
    (``freezegun.freeze_time(..., tick=True)``) moves asyncio's own ``time()`` (a clock that
    bound the function once would then skip backoff sleeps)."""
    clock = LoopClock()

    async def read() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        if bound:  # a client's own clock, bound to its loop (reads it without asking)
            clock.bind(loop)
        clock.now()
        target = (loop, "time") if patch == "the loop's time" else (time, "monotonic")
        with mock.patch.object(*target, return_value=42.0):
            return loop.time(), clock.now()

    loop = asyncio.new_event_loop()
    try:
        loop_time, now = loop.run_until_complete(read())
    finally:
        loop.close()
    assert now == loop_time == 42.0


def test_a_clients_own_clock_is_bound_to_its_loop_and_a_given_one_never() -> None:
    """The clock a client makes is bound to the loop it opens in, so a request asks for the
    running loop once (the pipeline's check; each ask is a getpid() system call on Python
    3.10 and 3.11), not four times; a clock the caller passed may serve other loops too and
    stays unbound, and a bound clock reads its loop's own time base (a shifted one too)."""

    class Shifted(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return super().time() + 1e6

    asked = 0
    real = asyncio.get_running_loop

    def counting() -> asyncio.AbstractEventLoop:
        nonlocal asked
        asked += 1
        return real()

    given = LoopClock()

    async def requests_asking() -> tuple[list[int], float, float, bool]:
        nonlocal asked
        counts, loop = [], real()
        for clock in (None, given):
            async with AsyncSalescaling(
                KEY, base_url=BASE, transport=FakeTransport(lambda r: json_response([])), clock=clock
            ) as client:
                await client.request("GET", "contacts")  # opens the client: binds its own clock
                with mock.patch.object(asyncio, "get_running_loop", counting):
                    asked = 0
                    await client.request("GET", "contacts")
                    counts.append(asked)
                if clock is None:
                    own = client._core.clock
                    assert isinstance(own, LoopClock)
                    loop_time, now = loop.time(), own.now()
        return counts, now, loop_time, given._loop is None

    loop = Shifted()
    try:
        counts, now, loop_time, given_unbound = loop.run_until_complete(requests_asking())
    finally:
        loop.close()
    assert counts == [1, 4]  # own clock: the pipeline's check alone; a given clock: 3 reads more
    assert loop_time <= now <= loop_time + 60  # the shifted loop's time base
    assert given_unbound


def test_drain_in_another_loop_times_out_on_that_loop() -> None:
    """The own clock's binding covers reading the time only: ``drain()`` run in another loop
    than the client's (its loop closed with a call still counted) sets its timeout on the
    loop it runs in, so it ends with ``False`` and closes the client, as before the binding."""

    async def never(_request: RawRequest) -> RawResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    client = AsyncSalescaling(KEY, base_url=BASE, transport=FakeTransport(never))
    first = asyncio.new_event_loop()
    try:
        call = first.create_task(client.request("GET", "contacts"))
        first.run_until_complete(asyncio.sleep(0))  # the call is in flight: the clock is bound
        assert client._core.calls.active == 1 and isinstance(client._core.clock, LoopClock)
        assert client._core.clock._loop is first
    finally:
        call.cancel()
        first.close()  # closed with the call still counted (its cancellation never ran)

    async def drain() -> bool:
        return await asyncio.wait_for(client.drain(timeout=0.01), 10)

    assert asyncio.run(drain()) is False
    assert client._core.state.value == "closed"


def test_statistics_of_a_used_client_read_outside_its_loop() -> None:
    """Once a client has run, its bound clock lets ``statistics()`` be read outside the loop
    (a never-used client's clock is unbound, and outside a loop it still needs one)."""
    used = AsyncSalescaling(KEY, base_url=BASE, transport=FakeTransport(lambda r: json_response([])))
    unused = AsyncSalescaling(KEY, base_url=BASE, transport=FakeTransport(lambda r: json_response([])))

    async def use() -> None:
        await used.request("GET", "contacts")
        await used.aclose()

    asyncio.run(use())
    assert used.statistics().granted == 1
    with pytest.raises(RuntimeError, match="no running event loop"):
        unused.statistics()


# -- instances built as their mutable twin (_frozen) ------------------------------------------


def _made_alike(made: Any, built: Any) -> None:
    """``made`` (by a maker) is the instance ``built`` (by the class itself) in every way."""
    assert type(made) is type(built)
    assert made == built and repr(made) == repr(built)
    try:
        expected = hash(built)
    except TypeError:  # a dict or list attribute
        with pytest.raises(TypeError):
            hash(made)
    else:
        assert hash(made) == expected
    for field in attrs.fields(type(built)):
        assert getattr(made, field.name) is getattr(built, field.name) or field.name == "header_map"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.url = "elsewhere"  # frozen like any other instance
    assert attrs.evolve(made) == built


@given(
    st.sampled_from(["GET", "POST"]),
    st.lists(st.tuples(st.sampled_from(["Content-Type", "X-Request-Id", "x-ratelimit-limit-short"]), st.text())),
    st.binary(max_size=20),
    st.none() | st.integers(),
)
def test_the_fast_makers_build_what_the_classes_build(
    method: str, headers: list[tuple[str, str]], body: bytes, count: int | None
) -> None:
    """The request, response, envelope and page of every call come from ``_frozen`` makers:
    the same instances, equal, hashing alike, frozen, every attribute set."""
    pairs, params, timeouts, sent = tuple(headers), [("page", "1")], Timeouts(total=3.0), {"x-api-key": KEY}
    _made_alike(
        make_request(method, BASE, sent, params, None, None, (), timeouts),
        RawRequest(method, BASE, sent, params, timeouts=timeouts),
    )
    response = make_response(200, pairs, body, BASE)
    _made_alike(response, RawResponse(200, pairs, body, BASE))
    assert response.header_map == RawResponse(200, pairs, body, BASE).header_map
    data: list[Any] = [{"id": "c1"}]
    envelope = unwrap_envelope({"data": data, "count": count}, raw="", status=200, headers=response.header_map)
    _made_alike(envelope, Envelope(status_code=None, count=count, error=None, data=data, headers=response.header_map))
    _made_alike(
        make_page(data, 2, 10, count, 1, response.header_map, None),
        Page(items=data, number=2, limit=10, count=count, raw_length=1, headers=response.header_map),
    )


def test_a_maker_refuses_classes_and_orders_it_cannot_build_alike() -> None:
    """Validators, converters, post-init hooks and attributes left unset would make a
    different (or broken) instance: refused when the maker is made."""

    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Converted:
        n: int = attrs.field(converter=int)

    @attrs.frozen
    class Hooked:
        n: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.define
    class Mutable:
        n: int

    @attrs.frozen(cache_hash=True)
    class Hashed:
        n: int

    @attrs.frozen
    class Named:  # attributes named like what a maker's code might use
        obj: int
        _cls: int
        _new: int
        make: int

    for cls in (Checked, Converted, Hooked):
        with pytest.raises(TypeError, match="not a plain frozen slotted"):
            positional_maker(cls)
    with pytest.raises(TypeError, match="leave unset"):
        positional_maker(Hashed)  # its cached hash would be read unset
    assert positional_maker(Mutable)(3) == Mutable(3)  # mutable slotted: alike too
    _made_alike(positional_maker(Named)(1, 2, 3, 4), Named(1, 2, 3, 4))
    with pytest.raises(TypeError, match="every attribute exactly once"):
        positional_maker(RawResponse, ["status", "headers", "body", "url"])  # header_map left unset
    with pytest.raises(TypeError, match="every attribute exactly once"):
        positional_maker(Page, ["items", "items", "number", "limit", "count", "raw_length", "headers"])
