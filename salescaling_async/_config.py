"""Frozen, validated configuration values. Validators only, no behaviour.

Every value raises :class:`ConfigError` (a ``ValueError``) when built wrong, so mistakes
surface at construction, never mid-request.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ._errors import ConfigError


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _optional_positive(inst: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        _positive(inst, attribute, value)


def _to_windows(value: Iterable[Window]) -> tuple[Window, ...]:
    return tuple(value)


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{attribute.name} must be an integer >= 1, got {value!r}")


@attrs.frozen
class Window:
    """One server-side limit: at most ``limit`` requests in any ``seconds``-long span.

    Args:
        name: The throttler's name; the server suffixes headers with it
            (``X-RateLimit-Remaining-<name>``, ``Retry-After-<name>``).
        limit: Requests allowed per window.
        seconds: The window length.

    .. versionadded:: 0.1.0
    """

    name: str = attrs.field()
    limit: int = attrs.field(validator=_positive_int)
    seconds: float = attrs.field(validator=_positive)

    @name.validator
    def _check_name(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"window name must be a non-empty token, got {value!r}")

    @property
    def margin(self) -> float:
        """Safety margin added to every slot: 2 ms plus 100 ppm of the window (rate-limits.md §3.2)."""
        return 0.002 + 1e-4 * self.seconds


def _check_windows(_inst: object, _attribute: object, value: tuple[Window, ...]) -> None:
    if not value:
        raise ConfigError("RateLimits needs at least one window")
    names = [w.name for w in value]
    if len({name.lower() for name in names}) != len(names):  # header names ignore case
        raise ConfigError(f"window names must be unique ignoring case, got {names}")


@attrs.frozen(cache_hash=True)  # every new key's budget looks its configuration up by it
class RateLimits:
    """The set of windows every API key must stay within at once.

    The default is the published policy: 20/1 s (``short``), 200/10 s (``medium``) and
    1000/60 s (``long``).

    .. versionadded:: 0.1.0
    """

    windows: tuple[Window, ...] = attrs.field(
        factory=lambda: (Window("short", 20, 1.0), Window("medium", 200, 10.0), Window("long", 1000, 60.0)),
        converter=_to_windows,
        validator=_check_windows,
    )

    def __iter__(self) -> Iterator[Window]:
        return iter(self.windows)

    def scaled(self, factor: float) -> RateLimits:
        """Return the same limits with every window ``factor`` times shorter (for tests)."""
        if not (math.isfinite(factor) and factor > 0):
            raise ConfigError(f"scale factor must be > 0, got {factor!r}")
        return RateLimits(tuple(attrs.evolve(w, seconds=w.seconds / factor) for w in self.windows))

    def ceiling(self, seconds: float) -> int:
        """The most requests any client can get accepted in a span of ``seconds``, starting cold.

        Computed by sending each request at the earliest moment every window allows, with
        zero latency (rate-limits.md §3.1).  No schedule does better: by induction the greedy
        k-th request is never later than any other schedule's k-th.  This is tighter than
        the per-window bound ``N * (floor(T / W) + 1)``, which ignores how windows interact.
        """
        logs: list[deque[float]] = [deque() for _ in self.windows]
        count, t = 0, 0.0
        while True:
            for window, log in zip(self.windows, logs, strict=True):
                if len(log) >= window.limit:
                    t = max(t, log[-window.limit] + window.seconds)
            if t > seconds + 1e-9:
                return count
            count += 1
            for window, log in zip(self.windows, logs, strict=True):
                log.append(t)
                if len(log) > window.limit:
                    log.popleft()


@attrs.frozen
class RetryConfig:
    """How failed requests are retried.

    Args:
        attempts: Total attempts including the first (1 disables retries).
        timeout: Overall deadline in seconds for one call, retries and waits included
            (``None``: no overall deadline).
        wait_initial: First backoff delay.
        wait_max: Largest backoff delay.
        wait_exp_base: Growth factor of the backoff.
        wait_jitter: Full jitter (a random delay between 0 and the backoff) when true.
        max_retry_after: Server hints longer than this are not waited for: the error is raised.

    .. versionadded:: 0.1.0
    """

    attempts: int = attrs.field(default=4, validator=_positive_int)
    timeout: float | None = attrs.field(default=180.0, validator=_optional_positive)
    wait_initial: float = attrs.field(default=1.0, validator=_non_negative)
    wait_max: float = attrs.field(default=30.0, validator=_non_negative)
    wait_exp_base: float = attrs.field(default=2.0, validator=_positive)
    wait_jitter: bool = True
    max_retry_after: float = attrs.field(default=90.0, validator=_non_negative)


@attrs.frozen
class Timeouts:
    """Per-attempt timeouts in seconds; ``None`` disables one (not recommended).

    Args:
        connect: Establishing the connection (including waiting for a pooled one).
        read: Between two reads of the response.
        total: The whole attempt.

    .. versionadded:: 0.1.0
    """

    connect: float | None = attrs.field(default=10.0, validator=_optional_positive)
    read: float | None = attrs.field(default=60.0, validator=_optional_positive)
    total: float | None = attrs.field(default=120.0, validator=_optional_positive)


@attrs.frozen
class PoolLimits:
    """Connection pool size of the one shared aiohttp connector.

    .. versionadded:: 0.1.0
    """

    max_connections: int = attrs.field(default=100, validator=_positive_int)
    keepalive_seconds: float = attrs.field(default=30.0, validator=_positive)


@attrs.frozen
class ResponseLimits:
    """Bounds on what the client accepts from a server.

    Args:
        max_body_bytes: The largest response body, counted after decompression while it
            streams in (default 16 MiB).  Past it the read stops, the connection is
            dropped and :class:`ResponseTooLargeError` is raised; nothing beyond the limit
            is buffered.

    .. versionadded:: 0.2.0
    """

    max_body_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_positive_int)
