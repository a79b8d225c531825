"""The pure retry decision (``_backoff.retry_delay``) and the pure response helpers around it."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async import (
    APIStatusError,
    BadRequestError,
    ConfigError,
    ConnectError,
    RateLimitedError,
    ReadError,
    ResponseValidationError,
    RetryConfig,
    ServerError,
)
from salescaling_async._backoff import compute_delay, retry_delay
from salescaling_async._endpoints import CONTACTS_CREATE, CONTACTS_LIST
from salescaling_async._errors import SalescalingError
from salescaling_async._request import Outcome, RawRequest, RawResponse, encode_params
from salescaling_async._responses import parse_response
from salescaling_async._urls import follow_redirect, resolve

METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])
configs = st.builds(
    RetryConfig,
    attempts=st.integers(1, 10),
    timeout=st.none() | st.floats(0.1, 1000),
    wait_initial=st.floats(0, 10),
    wait_max=st.floats(0, 60),
    wait_exp_base=st.floats(1, 4),
    wait_jitter=st.booleans(),
    max_retry_after=st.floats(0, 120),
)


def _status(cls: type[APIStatusError], status: int, hints: dict[str | None, float] | None = None) -> APIStatusError:
    error = cls("boom", status_code=status, method="GET", url="https://h/x")
    error.retry_hints = dict(hints or {})
    if isinstance(error, RateLimitedError):
        error.retry_after = max(error.retry_hints.values()) if error.retry_hints else None
    return error


hints = st.dictionaries(st.none() | st.sampled_from(["second", "minute"]), st.floats(0, 3600), max_size=2)
errors = st.one_of(
    st.builds(lambda h: _status(RateLimitedError, 429, h), hints),
    st.builds(lambda s, h: _status(ServerError, s, h), st.sampled_from([500, 502, 503, 504]), hints),
    st.builds(lambda s: _status(BadRequestError, s), st.sampled_from([400, 422])),
    st.builds(lambda: ConnectError("no", method="GET", url="u")),
    st.builds(lambda: ReadError("cut", method="GET", url="u", sent=True)),
)


def _decide(error: SalescalingError, config: RetryConfig, **overrides: object) -> float | None:
    args: dict[str, object] = {
        "method": "GET",
        "replayable": True,
        "attempt": 1,
        "config": config,
        "rng": random.Random(0),
        "now": 100.0,
        "deadline": None,
        "pause": 0.0,
    }
    args.update(overrides)
    return retry_delay(error, **args)  # type: ignore[arg-type]


@given(errors, configs, METHODS, st.integers(1, 12), st.none() | st.floats(0, 500), st.floats(0, 100))
def test_a_delay_is_never_negative_never_past_the_deadline_nor_over_the_cap(
    error: SalescalingError, config: RetryConfig, method: str, attempt: int, deadline: float | None, pause: float
) -> None:
    """Whatever the inputs, a decision to retry waits >= 0, within the cap and the deadline."""
    now = 100.0
    delay = _decide(error, config, method=method, attempt=attempt, deadline=deadline, pause=pause, now=now)
    if delay is None:
        return
    assert 0.0 <= delay <= config.max_retry_after
    assert attempt < config.attempts
    if deadline is not None:
        assert now + delay <= deadline
        if isinstance(error, RateLimitedError):
            assert now + pause <= deadline


@given(errors, configs, st.integers(1, 12))
def test_the_last_attempt_and_unreplayable_bodies_are_never_retried(
    error: SalescalingError, config: RetryConfig, attempt: int
) -> None:
    """Once ``attempts`` are spent, or with a streamed body, the error is raised at once."""
    assert _decide(error, config, attempt=max(attempt, config.attempts)) is None
    assert _decide(error, config, attempt=attempt, replayable=False) is None


@given(errors, configs, st.integers(1, 12), st.integers(0, 2**32))
def test_the_decision_depends_on_its_inputs_only(
    error: SalescalingError, config: RetryConfig, attempt: int, seed: int
) -> None:
    """Two calls with the same inputs (and equally seeded jitter) decide the same."""
    first = _decide(error, config, attempt=attempt, rng=random.Random(seed))
    assert first == _decide(error, config, attempt=attempt, rng=random.Random(seed))


@pytest.mark.parametrize(
    ("error", "method", "expected"),
    [
        pytest.param(_status(ServerError, 500), "POST", None, id="5xx-post-not-resent"),
        pytest.param(_status(ServerError, 503, {None: 2.0}), "POST", 2.0, id="503-with-hint-any-method"),
        pytest.param(_status(ServerError, 502, {None: 1.0, "minute": 7.0}), "GET", 7.0, id="largest-hint-wins"),
        pytest.param(ConnectError("no", method="POST", url="u"), "POST", 1.0, id="unsent-post-resent"),
        pytest.param(ReadError("cut", method="POST", url="u", sent=True), "POST", None, id="sent-post-not-resent"),
        pytest.param(_status(BadRequestError, 400), "GET", None, id="4xx-never"),
        pytest.param(_status(RateLimitedError, 429, {None: 5.0}), "POST", 0.0, id="429-waits-in-scheduler"),
    ],
)
def test_which_errors_are_retried(error: SalescalingError, method: str, expected: float | None) -> None:
    """The table of who is retried for which method, and how long the wait is."""
    config = RetryConfig(wait_jitter=False, wait_initial=1.0)
    assert _decide(error, config, method=method) == expected


def test_without_a_hint_the_backoff_step_is_used() -> None:
    """A 5xx without hints waits exactly ``compute_delay`` with the same rng state."""
    config = RetryConfig(attempts=10)
    delay = _decide(_status(ServerError, 500), config, attempt=3, rng=random.Random(7))
    assert delay == compute_delay(3, config, random.Random(7))


def test_a_429_gives_up_when_the_hint_or_the_pause_is_too_long() -> None:
    """A hint over ``max_retry_after`` or a key pause outlasting the deadline raises at once."""
    config = RetryConfig(max_retry_after=10.0)
    assert _decide(_status(RateLimitedError, 429, {None: 11.0}), config) is None
    assert _decide(_status(RateLimitedError, 429), config, deadline=105.0, pause=6.0) is None
    assert _decide(_status(RateLimitedError, 429), config, deadline=105.0, pause=5.0) == 0.0


def test_outcomes_of_failures() -> None:
    """An attempt without response costs its slot only when something may have been sent."""
    assert Outcome.of_failure(sent=True) is Outcome.AMBIGUOUS
    assert Outcome.of_failure(sent=False) is Outcome.RETURNED


def test_params_encode_in_order_with_repeats_and_words() -> None:
    """Lists repeat the name, None drops, bools become true/false."""
    assert encode_params({"a": [1, None, "x"], "b": True, "c": None}) == [("a", "1"), ("a", "x"), ("b", "true")]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, math.nan]])
def test_a_query_parameter_that_is_not_a_finite_number_is_refused(value: object) -> None:
    """NaN and infinity would go out as ``nan``/``inf``: refused, naming the parameter."""
    with pytest.raises(ConfigError, match="'score' must be a finite number"):
        encode_params({"page": 1, "score": value})
    assert encode_params({"score": 1.5, "n": [2.0, -0.0]}) == [("score", "1.5"), ("n", "2.0"), ("n", "-0.0")]


def test_redirects_keep_the_key_only_on_the_same_origin() -> None:
    """A cross-origin Location drops the key; a 303 becomes a GET without the old query."""
    raw = RawRequest("POST", "https://api.x/v1/a", headers={"x-api-key": "k"}, params=[("q", "1")])
    same, cross = follow_redirect(raw, RawResponse(307, (("Location", "/v1/b"),), b"", raw.url))
    assert (same.url, same.method, same.headers["x-api-key"], cross) == ("https://api.x/v1/b", "POST", "k", False)
    other, cross = follow_redirect(raw, RawResponse(303, (("location", "https://cdn.y/f"),), b"", raw.url))
    assert (other.method, "x-api-key" in other.headers, other.params, cross) == ("GET", False, [], True)
    with pytest.raises(ResponseValidationError):
        follow_redirect(raw, RawResponse(302, (), b"", raw.url))


def test_resolve_refuses_other_origins() -> None:
    """``request()`` paths resolve under the base URL; absolute URLs must share its origin and path."""
    assert resolve("https://api.x/v1/", "/contacts") == "https://api.x/v1/contacts"
    assert resolve("https://api.x/v1/", "https://api.x:443/v1/a") == "https://api.x:443/v1/a"
    with pytest.raises(Exception, match="under the base URL's path"):
        resolve("https://api.x/v1/", "https://api.x:443/v2/a")
    with pytest.raises(Exception, match="own origin"):
        resolve("https://api.x/v1/", "https://evil.x/v1/contacts")


def test_parse_response_maps_status_and_scope() -> None:
    """Errors carry the server message, the needed scope and hints; a 204 has no data."""
    body = b'{"error": "nope"}'
    with pytest.raises(APIStatusError, match=r"contacts:write") as caught:
        parse_response(RawResponse(403, (), body, "u"), CONTACTS_CREATE, wall_now=0.0)
    assert caught.value.message == "nope"
    with pytest.raises(RateLimitedError) as limited:
        parse_response(RawResponse(429, (("Retry-After", "3"),), b"", "u"), CONTACTS_LIST, wall_now=0.0)
    assert limited.value.retry_after == 3.0
    assert parse_response(RawResponse(204, (), b"", "u"), CONTACTS_LIST, wall_now=0.0).data is None
    with pytest.raises(ResponseValidationError):
        parse_response(RawResponse(200, (), b"<html>", "u"), CONTACTS_LIST, wall_now=0.0)
