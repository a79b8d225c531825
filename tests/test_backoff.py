"""Retry-After and rate-limit header parsing: strict RFC 9110, the wall clock as a parameter."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async._backoff import (
    WindowHeaders,
    parse_delay_seconds,
    parse_http_date,
    parse_retry_value,
    rate_limit_headers,
    retry_hints,
)
from salescaling_async.testing._throttler import format_seconds

NOW = datetime(2026, 11, 29, 8, 0, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("0", 0.0, id="zero"),
        pytest.param("10", 10.0, id="digits"),
        pytest.param(" \t60 ", 60.0, id="optional-whitespace"),
        pytest.param("0007", 7.0, id="leading-zeros"),
        pytest.param("1000000000", 3600.0, id="1e9-clamped-to-an-hour"),
        pytest.param("9" * 5000, 3600.0, id="5000-digits"),
        pytest.param("Sun, 29 Nov 2026 08:00:30 GMT", 30.0, id="imf-fixdate"),
        pytest.param("Sunday, 29-Nov-26 08:01:00 GMT", 60.0, id="rfc850"),
        pytest.param("Sun Nov 29 08:00:05 2026", 5.0, id="asctime"),
        pytest.param("Sat, 28 Nov 2026 08:00:00 GMT", 0.0, id="past-date"),
        pytest.param("Mon, 29 Nov 2027 08:00:00 GMT", 3600.0, id="far-date-clamped"),
    ],
)
def test_valid_retry_after(value: str, seconds: float) -> None:
    """delay-seconds and the three HTTP-date forms, clamped to [0, 3600]."""
    assert parse_retry_value(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1_0", id="underscore"),
        pytest.param("\u0661\u0660", id="arabic-indic-digits"),
        pytest.param("\uff11\uff10", id="fullwidth-digits"),
        pytest.param("1.5", id="fraction"),
        pytest.param("1e9", id="exponent"),
        pytest.param("inf", id="inf"),
        pytest.param("NaN", id="nan"),
        pytest.param("-5", id="negative"),
        pytest.param("+5", id="plus"),
        pytest.param("", id="empty"),
        pytest.param("5 s", id="unit"),
        pytest.param("29 Nov 2026 08:00:30 GMT", id="date-without-weekday"),
        pytest.param("Sun, 29 Nov 2026 08:00:30 +0000", id="numeric-zone"),
        pytest.param("Sun, 31 Feb 2026 08:00:30 GMT", id="no-such-day"),
        pytest.param("Sun, \u0662\u0669 Nov 2026 08:00:30 GMT", id="date-with-non-ascii-digits"),
    ],
)
def test_invalid_retry_after_is_ignored(value: str) -> None:
    """Anything that is not RFC 9110 is None, never coerced."""
    assert parse_retry_value(value, NOW) is None


def test_the_wall_clock_is_a_parameter() -> None:
    """The same date gives seconds relative to the wall_now passed in, nothing else."""
    date = "Sun, 29 Nov 2026 08:00:30 GMT"
    assert parse_retry_value(date, NOW - 10) == 40.0
    assert parse_http_date(date) == NOW + 30


@given(st.text(max_size=40), st.floats(allow_nan=True, allow_infinity=True))
def test_any_text_parses_or_is_none(value: str, wall_now: float) -> None:
    """Any text and any wall clock: a finite delay in [0, 3600] or None, never an exception."""
    seconds = parse_retry_value(value, wall_now)
    assert seconds is None or 0.0 <= seconds <= 3600.0


@given(st.integers(0, 10**15))
def test_delay_seconds_round_trip(n: int) -> None:
    """Every ASCII integer is read back exactly (up to the 12-digit absurdity bound)."""
    assert parse_delay_seconds(str(n)) == (n if n < 10**12 else 3600)


def test_retry_hints_by_window_and_milliseconds() -> None:
    """Named hints per window, the largest of repeats, retry-after-ms in seconds, junk ignored."""
    headers = [
        ("Retry-After-Short", "1"),
        ("retry-after-short", "3"),
        ("RETRY-AFTER-long", "1_0"),
        ("Retry-After-Ms", "5000000"),
        ("Retry-After", "2"),
    ]
    assert retry_hints(headers, NOW) == {"short": 3.0, None: 3600.0}
    assert retry_hints([("retry-after-ms", "1500")], NOW) == {None: 1.5}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("20", 20), ("1e400", None), ("inf", None), ("nan", None), ("\u0661", None), ("7.5", None)],
)
def test_rate_limit_numbers_are_ascii_digits(value: str, expected: int | None) -> None:
    """X-RateLimit-* numbers are ASCII digits; an overflowing float is ignored, not raised."""
    found = rate_limit_headers({"X-RateLimit-Limit-short": value, "x-ratelimit-remaining-short": "3"})
    assert found[0].limit == expected and found[0].remaining == 3


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0"), (0.1, "1"), (1.0, "1"), (3.0000000000000004, "3"), (26.298, "27"), (60.0, "60"), (-0.5, "0")],
)
def test_simulator_formats_whole_seconds_rounded_up(seconds: float, text: str) -> None:
    """The simulator's Retry-After/Reset values are whole seconds rounded up, never fractions."""
    assert format_seconds(seconds) == text


def test_rate_limit_header_names_are_learned_once_and_boundedly() -> None:
    """Header names are worked out once (any case, the same answer every time), and a server
    inventing names, or very long ones, cannot grow what is remembered past its bound."""
    from salescaling_async import _backoff

    headers = {"X-RATELIMIT-Limit-Short": "20", "x-ratelimit-remaining-short": "7", "X-Other": "1"}
    for _ in range(3):
        assert rate_limit_headers(headers) == [_backoff.WindowHeaders("short", 20, 7)]
    for i in range(3 * _backoff._MAX_ROLES):
        rate_limit_headers({f"X-Junk-{i}": "1", f"X-RateLimit-Limit-w{i}": "5", "X-" + "a" * 100 * (i + 1): "1"})
    assert len(_backoff._ROLES) <= _backoff._MAX_ROLES
    assert all(len(name) <= 64 for name in _backoff._ROLES)
    assert len(_backoff._PLANS) <= _backoff._MAX_PLANS  # one layout of names per response here
    for i in range(2 * _backoff._MAX_COUNTS):  # counts the server never repeats
        assert rate_limit_headers({"X-RateLimit-Remaining-long": str(10**11 + i)})[0].remaining == 10**11 + i
    assert len(_backoff._COUNTS) <= _backoff._MAX_COUNTS
    assert rate_limit_headers({"X-RateLimit-Remaining-Long": "9", "X-RateLimit-Limit-long": "1000"}) == [
        _backoff.WindowHeaders("long", 1000, 9)
    ]


def _reference_rate_limit_headers(headers: dict[str, str]) -> list[tuple[str, int | None, int | None]]:
    """The rule written plainly: any case; the last value of a window wins; delay-seconds."""
    limits: dict[str, int] = {}
    remaining: dict[str, int] = {}
    for name, value in headers.items():
        lower = name.lower()
        for prefix, into in (("x-ratelimit-limit-", limits), ("x-ratelimit-remaining-", remaining)):
            if lower.startswith(prefix):
                number = parse_delay_seconds(value)
                if number is not None:
                    into[lower[len(prefix) :]] = number
    return [(w, limits.get(w), remaining.get(w)) for w in {**limits, **remaining}]


_HEADER_NAMES = st.sampled_from(
    [
        "X-RateLimit-Limit-short",
        "x-ratelimit-limit-SHORT",
        "X-RateLimit-Remaining-short",
        "X-RATELIMIT-REMAINING-long",
        "x-ratelimit-limit-long",
        "X-RateLimit-Reset-short",
        "X-RateLimit-Limit-",
        "Content-Length",
        "Retry-After",
    ]
)
_HEADER_VALUES = st.one_of(
    st.integers(0, 10**15).map(str),
    st.sampled_from(["", " 7", "7 ", "+5", "1_0", "1.5", "\u0661", "00012", "9" * 40, "1e3"]),
    st.text(max_size=6),
)


@given(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=9))
def test_rate_limit_headers_follow_the_plain_rule(headers: dict[str, str]) -> None:
    """The fast parse gives what the rule written plainly gives, for any names and values."""
    found = [(w.name, w.limit, w.remaining) for w in rate_limit_headers(headers)]
    assert found == _reference_rate_limit_headers(headers)
    assert all(type(w) is WindowHeaders for w in rate_limit_headers(headers))


@given(
    st.lists(st.tuples(st.one_of(_HEADER_NAMES, st.text(min_size=1, max_size=80)), st.text(max_size=5)), max_size=12)
)
def test_a_responses_header_map_has_lower_case_names_the_last_duplicate_winning(
    headers: list[tuple[str, str]],
) -> None:
    """``RawResponse.header_map`` (names lowered through a bounded table) is the plain rule."""
    from salescaling_async import _request

    for _ in range(2):  # first sight of the names, then from the table
        response = _request.RawResponse(200, tuple(headers), b"", "https://x/")
        assert response.header_map == {name.lower(): value for name, value in headers}
    assert len(_request._LOWER) <= _request._MAX_LOWER


def test_lowered_header_names_are_remembered_boundedly() -> None:
    """A server inventing header names, or very long ones, cannot grow the table past its bound."""
    from salescaling_async import _request

    for i in range(3 * _request._MAX_LOWER):
        pairs = ((f"X-Junk-{i}", "1"), ("X-" + "A" * 100 * (i % 7 + 1), "2"))
        assert _request.RawResponse(200, pairs, b"", "https://x/").header_map[f"x-junk-{i}"] == "1"
    assert len(_request._LOWER) <= _request._MAX_LOWER
    assert all(len(name) <= 64 for name in _request._LOWER)
