"""Pure retry policy and rate-limit header parsing. Strictly private.

No clock reads: the one wall-clock value needed (to turn an HTTP-date ``Retry-After`` into
seconds) is a parameter.

Header values are read strictly (RFC 9110): ``Retry-After`` is ASCII digits or an exact
HTTP-date, and the ``X-RateLimit-*`` numbers are ASCII digits.  Anything else (``1_0``,
``1e9``, ``inf``, non-ASCII digits, a lenient date) is ignored as if absent, never coerced.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import NamedTuple

from ._config import RetryConfig
from ._errors import (
    APIStatusError,
    RateLimitedError,
    SalescalingError,
    ServerError,
    TransportError,
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
"""Methods safe to resend after the server may have processed them.

PUT is idempotent by HTTP semantics and the only PUT of the API (user metadata) replaces a
map, so resending it cannot duplicate anything.
"""

_MAX_HINT = 3600.0  # clamp absurd hints (rate-limits.md §3.4)
_MAX_COUNT = 1e9  # a limit or remaining count above this is junk


def compute_delay(attempt: int, config: RetryConfig, rng: random.Random) -> float:
    """Backoff before retry number ``attempt`` (1-based): capped exponential, full jitter.

    The exponent is clamped before it is raised so huge attempt numbers cannot overflow.
    """
    exponent = min(max(attempt - 1, 0), 64)
    ceiling = min(config.wait_max, config.wait_initial * config.wait_exp_base**exponent)
    return rng.uniform(0.0, ceiling) if config.wait_jitter else ceiling


_DIGITS = re.compile(r"[0-9]+")  # RFC 9110 delay-seconds: ASCII digits, nothing else
_MAX_DIGITS = 12  # more digits than this is absurd whatever they say: read as _MAX_HINT

_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
_WDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_WDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MON = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(?P<h>[0-9]{2}):(?P<m>[0-9]{2}):(?P<s>[0-9]{2})"
_HTTP_DATES = (  # RFC 9110 §5.6.7: IMF-fixdate, then the two obsolete forms recipients accept
    re.compile(rf"{_WDAY}, (?P<d>[0-9]{{2}}) {_MON} (?P<y>[0-9]{{4}}) {_TIME} GMT"),
    re.compile(rf"{_LONG_WDAY}, (?P<d>[0-9]{{2}})-{_MON}-(?P<y>[0-9]{{2}}) {_TIME} GMT"),
    re.compile(rf"{_WDAY} {_MON} (?P<d>[ 0-9][0-9]) {_TIME} (?P<y>[0-9]{{4}})"),
)


def parse_delay_seconds(value: str) -> int | None:
    """RFC 9110 ``delay-seconds`` (ASCII digits only), or ``None``.

    ``1_0``, ``+5``, ``1.5``, ``1e9``, ``inf``, ``NaN`` and non-ASCII digits (Arabic-Indic ``U+0661 U+0660``) are all
    refused.  A digit string too long to mean anything is read as an hour, the clamp.
    """
    value = value.strip(" \t")
    if not _DIGITS.fullmatch(value):
        return None
    if len(value.lstrip("0")) > _MAX_DIGITS:  # never int() a 5000-digit string
        return int(_MAX_HINT)
    return int(value)


def parse_http_date(value: str) -> float | None:
    """An RFC 9110 HTTP-date as a POSIX timestamp, or ``None`` when it is not one exactly."""
    value = value.strip(" \t")
    for pattern in _HTTP_DATES:
        match = pattern.fullmatch(value)
        if match is None:
            continue
        year = int(match["y"])
        if year < 100:  # rfc850-date: two-digit years, 70-99 meaning the 1900s
            year += 1900 if year >= 70 else 2000
        try:
            when = datetime(
                year,
                _MONTHS[match["mon"]],
                int(match["d"]),
                int(match["h"]),
                int(match["m"]),
                int(match["s"]),
                tzinfo=timezone.utc,
            )
        except ValueError:  # 31 Feb, hour 25, leap second 60
            return None
        return when.timestamp()
    return None


def parse_retry_value(value: str, wall_now: float) -> float | None:
    """Seconds from a ``Retry-After`` value, or ``None`` when it is not RFC 9110.

    Args:
        value: The header value: ``delay-seconds`` or an ``HTTP-date``.
        wall_now: The current wall-clock time (POSIX seconds), for an HTTP-date only.

    Returns:
        Seconds to wait, clamped to [0, 3600] (a past date is 0).
    """
    seconds = parse_delay_seconds(value)
    if seconds is not None:
        return min(float(seconds), _MAX_HINT)
    when = parse_http_date(value)
    if when is None or not math.isfinite(wall_now):
        return None
    return min(max(when - wall_now, 0.0), _MAX_HINT)


def retry_hints(headers: Iterable[tuple[str, str]], wall_now: float) -> dict[str | None, float]:
    """Every ``Retry-After`` and ``Retry-After-<name>`` header, in any letter case.

    Returns a map from window name (``None`` for the plain header) to seconds; for repeated
    headers the largest value wins.  ``Retry-After-Ms`` (a Stainless convention) is whole
    milliseconds, added to the plain hint.  Values that are not RFC 9110 are ignored.
    """
    hints: dict[str | None, float] = {}
    for name, value in headers:
        lower = name.lower()
        if lower == "retry-after":
            key: str | None = None
            seconds = parse_retry_value(value, wall_now)
        elif lower == "retry-after-ms":
            key = None
            millis = parse_delay_seconds(value)
            seconds = None if millis is None else min(millis / 1000.0, _MAX_HINT)
        elif lower.startswith("retry-after-"):
            key = lower[len("retry-after-") :]
            seconds = parse_retry_value(value, wall_now)
        else:
            continue
        if seconds is not None:
            hints[key] = max(hints.get(key, 0.0), seconds)
    return hints


class WindowHeaders(NamedTuple):
    """Strictly private. ``X-RateLimit-Limit/Remaining-<name>`` of one window (``name`` in
    lower case).  A named tuple: every response of the real API carries three."""

    name: str
    limit: int | None
    remaining: int | None


_LIMIT, _REMAINING = "x-ratelimit-limit-", "x-ratelimit-remaining-"


_ROLES: dict[str, tuple[bool, str] | None] = {}
"""Header name as received -> ``(is the limit, window name)``, or ``None`` for any other
header: every response repeats the same names, so each is worked out once (bounded)."""
_MAX_ROLES = 1024
_UNSEEN: tuple[bool, str] | None = (False, "")  # compared by identity: the name is not in _ROLES yet


def _role(name: str) -> tuple[bool, str] | None:
    role = _ROLES.get(name, _UNSEEN)
    if role is not _UNSEEN:
        return role
    lower = name.lower()
    role = None
    if lower.startswith(_LIMIT):
        role = (True, lower[len(_LIMIT) :])
    elif lower.startswith(_REMAINING):
        role = (False, lower[len(_REMAINING) :])
    if len(_ROLES) < _MAX_ROLES and len(name) <= 64:  # a server inventing names cannot grow it
        _ROLES[name] = role
    return role


_PLANS: dict[tuple[str, ...], tuple[tuple[str, bool, str], ...]] = {}
"""A response's header names in order -> its rate-limit ones as ``(name, is the limit,
window)``: a server sends the same names in the same order every time, so each layout is
looked at once, and a response costs one lookup per count instead of one per header."""
_MAX_PLANS = 256
_MAX_PLAN_NAMES = 64  # layouts with more headers than this are not remembered

_COUNTS: dict[str, int] = {}
"""Count text -> value: the real API repeats the same few hundred (a remaining count of each
window, its limit), so most are read by one lookup."""
_MAX_COUNTS = 4096


def _plan(names: tuple[str, ...]) -> tuple[tuple[str, bool, str], ...]:
    plan = []
    for name in names:
        role = _role(name)
        if role is not None:
            plan.append((name, role[0], role[1]))
    result = tuple(plan)
    if len(_PLANS) < _MAX_PLANS and len(names) <= _MAX_PLAN_NAMES and all(len(n) <= 64 for n in names):
        _PLANS[names] = result
    return result


def _count(value: str) -> int | None:
    """:func:`parse_delay_seconds` for a count not in ``_COUNTS`` yet (plain ones are kept)."""
    if not (value.isdigit() and value.isascii() and len(value) <= _MAX_DIGITS):
        return parse_delay_seconds(value)
    number = int(value)
    if len(_COUNTS) < _MAX_COUNTS:
        _COUNTS[value] = number
    return number


def rate_limit_headers(headers: Mapping[str, str]) -> list[WindowHeaders]:
    """Parse the suffixed ``X-RateLimit-*-<name>`` headers tolerantly (any case, junk ignored).

    Runs for every response of the real API (six counts on each): the layout of header names
    is looked up once (see ``_PLANS``) and each count in ``_COUNTS``; results are built as
    tuples without the named tuple's own ``__new__``.  A mapping other than a ``dict`` (the
    client's header map is one) is read as ``dict(headers.items())``.
    """
    if type(headers) is not dict:
        headers = dict(headers.items())
    names = tuple(headers)
    plan = _PLANS.get(names)
    if plan is None:
        plan = _plan(names)
    if not plan:
        return []
    limits: dict[str, int] = {}
    remaining: dict[str, int] = {}
    counts = _COUNTS
    for name, is_limit, window in plan:
        value = headers[name]
        number = counts.get(value)
        if number is None:
            number = _count(value)
        if number is not None:
            (limits if is_limit else remaining)[window] = number
    new = tuple.__new__
    if not remaining:
        return [new(WindowHeaders, (window, limit, None)) for window, limit in limits.items()]
    return [
        new(WindowHeaders, (window, limits.get(window), remaining.get(window))) for window in {**limits, **remaining}
    ]


def is_retryable(error: SalescalingError, method: str) -> bool:
    """Whether ``error`` may be retried for ``method``.

    A 429 is always safe (the server did not process it).  A transport error that is proven
    to have happened before sending is safe for any method.  5xx and other transport errors
    are retried only for idempotent methods: a POST that may have reached the server is
    never resent, so nothing is created twice.  A 503 with ``Retry-After`` says the server
    refused the work, so it is retried for any method.
    """
    if isinstance(error, RateLimitedError) and error.status_code == 429:
        return True
    if isinstance(error, TransportError):
        return not error.sent or method.upper() in IDEMPOTENT_METHODS
    if isinstance(error, ServerError):
        if error.status_code == 503 and error.retry_hints:
            return True
        return method.upper() in IDEMPOTENT_METHODS
    return False


def retry_delay(
    error: SalescalingError,
    *,
    method: str,
    replayable: bool,
    attempt: int,
    config: RetryConfig,
    rng: random.Random,
    now: float,
    deadline: float | None,
    pause: float,
) -> float | None:
    """Seconds to wait before the next attempt after ``error``, or ``None`` to give up.

    Pure: every input is a parameter.  A 429 waits ``0`` here because the scheduler already
    paused the whole key (``pause`` seconds left) and the next grant waits for it; it gives up
    when the server asks for more than ``config.max_retry_after`` or the pause outlasts the
    deadline.  Other errors wait the server's largest hint, else the jittered backoff step,
    and give up when that is too long or would end past the deadline.

    Args:
        error: What attempt number ``attempt`` raised.
        method: The request's HTTP method (POSTs are resent only when provably safe).
        replayable: Whether the body can be sent again (no streamed file).
        attempt: The 1-based number of the attempt that failed.
        config: The retry policy.
        rng: The jitter source.
        now: Monotonic seconds now.
        deadline: Monotonic seconds by which every attempt must be done, or ``None``.
        pause: Seconds the key's rate-limit pause still lasts.
    """
    if attempt >= config.attempts or not replayable or not is_retryable(error, method):
        return None
    if isinstance(error, RateLimitedError):
        if (error.retry_after or 0) > config.max_retry_after or (deadline is not None and now + pause > deadline):
            return None
        return 0.0
    hints = error.retry_hints if isinstance(error, APIStatusError) else {}
    delay = max(hints.values()) if hints else compute_delay(attempt, config, rng)
    if delay > config.max_retry_after or (deadline is not None and now + delay > deadline):
        return None
    return delay
