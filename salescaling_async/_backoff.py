"""Pure retry policy and rate-limit header parsing. Strictly private.

No clock reads: the one wall-clock value needed (to turn an HTTP-date ``Retry-After`` into
seconds) is a parameter.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Iterable, Mapping

import attrs

from ._config import RetryConfig
from ._errors import (
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


def parse_retry_value(value: str, wall_now: float) -> float | None:
    """Seconds from a ``Retry-After`` value: delta seconds or an HTTP date; ``None`` if junk."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:  # pragma: no cover - older Pythons return None on junk
            return None
        seconds = when.timestamp() - wall_now
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_HINT)


def retry_hints(headers: Iterable[tuple[str, str]], wall_now: float) -> dict[str | None, float]:
    """Every ``Retry-After`` and ``Retry-After-<name>`` header, in any letter case.

    Returns a map from window name (``None`` for the plain header) to seconds; for repeated
    headers the largest value wins.
    """
    hints: dict[str | None, float] = {}
    for name, value in headers:
        lower = name.lower()
        if lower == "retry-after":
            key: str | None = None
        elif lower.startswith("retry-after-"):
            key = lower[len("retry-after-") :]
            if key == "ms":  # ``retry-after-ms`` (Stainless convention) is milliseconds
                seconds = parse_retry_value(value, wall_now)
                if seconds is not None:
                    hints[None] = max(hints.get(None, 0.0), seconds / 1000.0)
                continue
        else:
            continue
        seconds = parse_retry_value(value, wall_now)
        if seconds is not None:
            hints[key] = max(hints.get(key, 0.0), seconds)
    return hints


@attrs.frozen
class WindowHeaders:
    """Strictly private. ``X-RateLimit-Limit/Remaining-<name>`` of one window."""

    name: str
    limit: int | None
    remaining: int | None


def rate_limit_headers(headers: Mapping[str, str]) -> list[WindowHeaders]:
    """Parse the suffixed ``X-RateLimit-*-<name>`` headers tolerantly (any case, junk ignored)."""
    found: dict[str, dict[str, int]] = {}
    for name, value in headers.items():
        lower = name.lower()
        for field in ("limit", "remaining"):
            prefix = f"x-ratelimit-{field}-"
            if lower.startswith(prefix):
                try:
                    parsed = float(value)
                except ValueError:
                    continue
                if not math.isfinite(parsed) or not 0 <= parsed <= _MAX_COUNT:
                    continue  # inf, NaN, 1e400 or negative: junk, never an OverflowError
                number = int(parsed)
                found.setdefault(lower[len(prefix) :], {})[field] = number
    return [WindowHeaders(n, v.get("limit"), v.get("remaining")) for n, v in found.items()]


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
