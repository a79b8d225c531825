"""The circuit breaker's state machine (pure, on explicit times) and its hook in the client."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async import AsyncSalescaling, CircuitOpenError, ConfigError, ConnectError, RetryConfig
from salescaling_async._breaker import BreakerConfig, BreakerState, CircuitBreaker
from salescaling_async.testing import FakeClock, FakeTransport, json_response

CONFIG = BreakerConfig(failures=3, cool_off=10.0)


def _open(breaker: CircuitBreaker, now: float = 0.0) -> None:
    for _ in range(breaker.config.failures):
        breaker.check(now)
        breaker.record(now, None)


def test_opens_after_failures_in_a_row_and_fails_fast() -> None:
    """Three failures in a row open the circuit; the next call fails at once with the wait."""
    breaker = CircuitBreaker(CONFIG)
    _open(breaker, now=5.0)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.check(7.5)
    assert info.value.retry_after == pytest.approx(7.5)


def test_an_answer_resets_the_count() -> None:
    """Failures must be consecutive: any non-gateway answer in between resets the count."""
    breaker = CircuitBreaker(CONFIG)
    for status in (None, None, 500, None, None):
        breaker.check(0.0)
        breaker.record(0.0, status)
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    "status", [pytest.param(502, id="502"), pytest.param(503, id="503"), pytest.param(504, id="504")]
)
def test_gateway_statuses_count_as_failures(status: int) -> None:
    """A proxy's 502/503/504 in front of a dead API counts like a transport failure."""
    breaker = CircuitBreaker(CONFIG)
    for _ in range(3):
        breaker.check(0.0)
        breaker.record(0.0, status)
    assert breaker.state is BreakerState.OPEN


def test_one_probe_after_cool_off_closes_on_success() -> None:
    """After the cool-off exactly one probe goes; others fail fast until it answers."""
    breaker = CircuitBreaker(CONFIG)
    _open(breaker)
    breaker.check(10.0)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.check(10.0)
    breaker.record(10.5, 200)
    assert breaker.state is BreakerState.CLOSED
    breaker.check(10.6)


def test_failed_probe_reopens_for_a_full_cool_off() -> None:
    """A failed probe opens the circuit again, counted from the probe's failure."""
    breaker = CircuitBreaker(CONFIG)
    _open(breaker)
    breaker.check(10.0)
    breaker.record(11.0, None)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.check(12.0)
    assert info.value.retry_after == pytest.approx(9.0)


def test_abandoned_probe_lets_the_next_call_probe() -> None:
    """A cancelled probe does not wedge the breaker half open."""
    breaker = CircuitBreaker(CONFIG)
    _open(breaker)
    breaker.check(10.0)
    breaker.abandon()
    breaker.check(10.0)
    assert breaker.state is BreakerState.HALF_OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"failures": 0}, id="failures"),
        pytest.param({"cool_off": 0}, id="cool-off"),
        pytest.param({"cool_off": float("inf")}, id="inf"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    """Configuration mistakes surface at construction."""
    with pytest.raises(ConfigError):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.floats(0, 5), st.sampled_from([None, 200, 404, 502])), max_size=60))
def test_never_more_than_one_probe_and_never_open_before_failures(steps: list[tuple[float, int | None]]) -> None:
    """Invariants: the circuit only opens after `failures` failures in a row; a half-open
    circuit never lets two calls through at once; a refusal's wait is never negative."""
    breaker = CircuitBreaker(CONFIG)
    now, run, out = 0.0, 0, 0
    for dt, status in steps:
        now += dt
        try:
            breaker.check(now)
        except CircuitOpenError as exc:
            refused_wait = exc.retry_after
            assert refused_wait >= 0
            continue
        out += breaker.state is BreakerState.HALF_OPEN
        assert out <= 1
        was_half_open = breaker.state is BreakerState.HALF_OPEN
        breaker.record(now, status)
        out = 0
        run = run + 1 if status in (None, 502) else 0
        if breaker.state is BreakerState.OPEN and not was_half_open:
            assert run >= CONFIG.failures


async def test_client_fails_fast_once_the_upstream_is_down() -> None:
    """Through the client: after three unreachable attempts, calls fail with no send at all,
    and a probe after the cool-off that gets an answer closes the circuit."""
    clock = FakeClock()
    sent: list[str] = []
    up = False

    def handler(request: object) -> object:
        sent.append("x")
        if not up:
            raise ConnectError("refused", method="GET", url="http://127.0.0.1/")
        return json_response([], count=0)

    async with AsyncSalescaling(
        "k" * 20,
        base_url="http://127.0.0.1:9/api/",
        clock=clock,
        transport=FakeTransport(handler),
        retry=RetryConfig(attempts=1),
        breaker=BreakerConfig(failures=3, cool_off=10.0),
    ) as client:
        for _ in range(3):
            with pytest.raises(ConnectError):
                await client.request("GET", "contacts")
        with pytest.raises(CircuitOpenError):
            await client.request("GET", "contacts")
        assert len(sent) == 3
        clock.advance(10.0)
        up = True
        await client.request("GET", "contacts")
        await client.request("GET", "contacts")
        assert len(sent) == 5
