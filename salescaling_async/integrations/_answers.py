"""SDK errors as HTTP answers, and the web defaults. Strictly private; both frameworks use it.

:func:`error_answer` is pure: one exception in, one :class:`ErrorAnswer` out (status,
headers, a small JSON body, one log line).  The table, first match wins:

=========================================  ======  ==============================================
error                                      status  why
=========================================  ======  ==============================================
:class:`RateLimitedError` (upstream 429)   429     the upstream said so; ``Retry-After`` passed on
:class:`CircuitOpenError`                  503     upstream down, failing fast until the probe
:class:`DeadlineExceededError`             503     no rate budget within the handler's deadline
:class:`BudgetStoreError`                  503     the shared budget (Redis) is unavailable
:class:`ClientClosedError`                 503     the app is shutting down
:class:`RequestTimeoutError`               504     the upstream did not answer in time
:class:`TransportError`                    502     no answer from the upstream
:class:`NotFoundError` (upstream 404)      404     the resource does not exist
other :class:`APIStatusError` (5xx, 401…)  502     the upstream failed or refused *our* key
:class:`ResponseValidationError`           502     the upstream answered something unusable
anything else (:class:`ConfigError`)       500     a bug in the app: its message is logged
=========================================  ======  ==============================================

``Retry-After`` carries the error's own estimate, rounded up to whole seconds (RFC 9110
allows no fractions), or 1 when the error has none.  The body never carries upstream URLs
or messages: they stay in the log line.
"""

from __future__ import annotations

import math
import os
from typing import Any

import attrs

from .._breaker import BreakerConfig
from .._config import RetryConfig
from .._errors import (
    APIStatusError,
    BudgetStoreError,
    CircuitOpenError,
    ClientClosedError,
    DeadlineExceededError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseValidationError,
    TransportError,
)

WEB_DEADLINE = 5.0
"""Seconds a request handler's SDK call may wait for budget and retries (web default)."""

WEB_DRAIN = 5.0
"""Seconds the client waits for calls in progress at shutdown before closing (web default)."""


@attrs.frozen
class ErrorAnswer:
    """Strictly private. The HTTP answer for one SDK error."""

    status: int
    code: str
    message: str
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


def _seconds(value: float | None) -> int:
    if value is None or not math.isfinite(value):
        return 1
    return max(1, math.ceil(value))


def error_answer(exc: BaseException) -> ErrorAnswer:
    """Map an exception raised in a request handler to its HTTP answer (see the table above)."""
    if isinstance(exc, RateLimitedError):
        return ErrorAnswer(429, "rate_limited", "the upstream API is rate limiting", _seconds(exc.retry_after))
    if isinstance(exc, CircuitOpenError):
        return ErrorAnswer(503, "upstream_down", "the upstream API is unavailable", _seconds(exc.retry_after))
    if isinstance(exc, DeadlineExceededError):
        return ErrorAnswer(503, "overloaded", "too many requests for the upstream API", _seconds(exc.retry_after))
    if isinstance(exc, BudgetStoreError):
        return ErrorAnswer(503, "budget_unavailable", "the shared rate budget is unavailable", 1)
    if isinstance(exc, ClientClosedError):
        return ErrorAnswer(503, "shutting_down", "the service is shutting down", 1)
    if isinstance(exc, RequestTimeoutError):
        return ErrorAnswer(504, "upstream_timeout", "the upstream API did not answer in time")
    if isinstance(exc, TransportError):
        return ErrorAnswer(502, "upstream_unreachable", "the upstream API could not be reached")
    if isinstance(exc, NotFoundError):
        return ErrorAnswer(404, "not_found", "not found")
    if isinstance(exc, (APIStatusError, ResponseValidationError)):
        return ErrorAnswer(502, "upstream_error", "the upstream API failed")
    return ErrorAnswer(500, "internal_error", "internal error")


def log_line(exc: BaseException, answer: ErrorAnswer, method: str, path: str) -> str:
    """The one log line for a mapped error: what the client got, and why (no traceback)."""
    return f"{method} {path} -> {answer.status}: {type(exc).__name__}: {exc}"


def web_defaults(client_kwargs: dict[str, Any], *, deadline: float) -> dict[str, Any]:
    """``client_kwargs`` completed with the web defaults for what the caller did not set.

    * ``retry``: a ``deadline``-second overall deadline (unless ``SALESCALING_DEADLINE`` is
      set), so a handler sheds load instead of queueing for minutes;
    * ``breaker``: on, so an unreachable upstream fails fast instead of costing every
      request its full retry schedule;
    * ``max_queue``: a key's queue holds at most what its long window could grant (1,000 by
      default): more waiters could not be served within any web deadline, so they get 503 at
      once (:class:`QueueFullError`).
    """
    kwargs = dict(client_kwargs)
    if "retry" not in kwargs and not os.environ.get("SALESCALING_DEADLINE", "").strip():
        kwargs["retry"] = RetryConfig(timeout=deadline)
    kwargs.setdefault("breaker", BreakerConfig())
    kwargs.setdefault("max_queue", WEB_MAX_QUEUE)
    return kwargs


WEB_MAX_QUEUE = 1000
"""The web defaults' bound on one key's queue."""
