"""A circuit breaker for an upstream that is down: pure state machine on the injected clock.

When the API cannot be reached, every request would otherwise pay its full retry schedule
(connect timeouts and backoff, seconds each) before failing.  The breaker remembers that the
upstream is down and makes the following calls fail at once with :class:`CircuitOpenError`.

States::

    CLOSED --(``failures`` upstream failures in a row)--> OPEN
    OPEN --(``cool_off`` seconds passed, next call)--> HALF_OPEN: that one call is the probe
    HALF_OPEN --(probe answered)--> CLOSED        HALF_OPEN --(probe failed)--> OPEN again
    HALF_OPEN --(probe abandoned: cancelled)--> HALF_OPEN with no probe out (next call probes)

An *upstream failure* is a transport error (nothing or no answer came back) or a gateway
status (502, 503, 504) that a proxy in front of a dead API answers with.  Any other answer,
error statuses included, proves the upstream is up and closes the circuit.  Only one probe is
out at a time, so a recovering API is not hit by every waiting handler at once.

No ``asyncio``, no ``time``: every operation takes ``now`` from the caller's clock.
"""

from __future__ import annotations

import enum
import math

import attrs

from ._errors import CircuitOpenError, ConfigError

GATEWAY_STATUSES = frozenset({502, 503, 504})


def _positive_int(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def _positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{attribute.name} must be a finite number > 0, got {value!r}")


@attrs.frozen
class BreakerConfig:
    """When the circuit opens and how long it stays open.

    Args:
        failures: Upstream failures in a row (transport errors, 502/503/504) that open it.
        cool_off: Seconds the circuit stays open before one probe request is let through.

    .. versionadded:: 0.2.0
    """

    failures: int = attrs.field(default=5, validator=_positive_int)
    cool_off: float = attrs.field(default=10.0, validator=_positive)


class BreakerState(enum.Enum):
    """The breaker's state. .. versionadded:: 0.2.0"""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Strictly private. One breaker per client (every view and key share the upstream).

    With ``config=None`` the breaker is disabled: it never opens.
    """

    __slots__ = ("_failures", "_opened_at", "_probe_out", "config", "state")

    def __init__(self, config: BreakerConfig | None) -> None:
        self.config = config
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = -math.inf
        self._probe_out = False

    def check(self, now: float) -> None:
        """Let a call through, or raise :class:`CircuitOpenError` with the wait until a probe.

        Raises:
            CircuitOpenError: The circuit is open, or half open with the probe still out.
        """
        if self.state is BreakerState.CLOSED or self.config is None:
            return
        if self.state is BreakerState.OPEN:
            reopen = self._opened_at + self.config.cool_off
            if now < reopen:
                raise CircuitOpenError(
                    f"the API failed {self.config.failures} times in a row; failing fast",
                    retry_after=reopen - now,
                )
            self.state = BreakerState.HALF_OPEN
        if self._probe_out:  # HALF_OPEN: one probe at a time
            raise CircuitOpenError("the API is being probed after failures; failing fast", retry_after=1.0)
        self._probe_out = True

    def record(self, now: float, status: int | None) -> None:
        """Settle a call that was let through: ``status`` of the answer, ``None`` for none."""
        if self.config is None:
            return
        if status is not None and status not in GATEWAY_STATUSES:
            self.state = BreakerState.CLOSED
            self._failures = 0
            self._probe_out = False
            return
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.config.failures:
            self.state = BreakerState.OPEN
            self._opened_at = now
            self._probe_out = False

    def abandon(self) -> None:
        """A call let through ended without an outcome (cancelled): free the probe."""
        self._probe_out = False

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.state.value} failures={self._failures}>"
