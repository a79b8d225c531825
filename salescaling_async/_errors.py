"""Every exception the SDK raises, in one tree with one root.

::

    SalescalingError
    ├── ConfigError (also ValueError)           bad argument or configuration, nothing sent
    │   └── ScopeError                          the key lacks the endpoint's scope, nothing sent
    ├── ClientClosedError (also RuntimeError)   the client was closed or is bound to another loop
    ├── DeadlineExceededError (also TimeoutError)  the rate budget cannot grant before a deadline
    │   └── QueueFullError                      the key's queue is at its maximum length
    ├── BudgetStoreError                        the shared budget store (Redis) failed
    ├── TransportError                          no HTTP response was received
    │   ├── ConnectError                        nothing was sent (proven): safe to resend
    │   ├── ReadError                           the request may have reached the server
    │   └── RequestTimeoutError (also TimeoutError)
    ├── ResponseValidationError                 a response that is not JSON or not the envelope
    │   └── ResponseTooLargeError               the body exceeded ResponseLimits.max_body_bytes
    └── APIStatusError                          the server answered with an error status
        ├── BadRequestError                     400, 422
        ├── AuthenticationError                 401
        ├── PermissionDeniedError               403
        ├── NotFoundError                       404
        ├── RateLimitedError                    429 (``retry_after`` seconds)
        └── ServerError                         5xx

Exceptions never carry the API key: URLs are stored without credentials and the request
headers are never kept.  This module imports only the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple


class SalescalingError(Exception):
    """Root of every error the SDK raises.

    .. versionadded:: 0.1.0
    """


class ConfigError(SalescalingError, ValueError):
    """A configuration value or argument is invalid; raised before anything is sent."""


class ScopeError(ConfigError):
    """The client was built with ``scopes=`` that lack the scope an endpoint needs."""

    def __init__(self, scope: str, endpoint: str) -> None:
        super().__init__(f"{endpoint} needs the scope {scope!r}, which this client's key lacks")
        self.scope = scope
        self.endpoint = endpoint


class ClientClosedError(SalescalingError, RuntimeError):
    """The client is closed, or is used from an event loop other than its own."""


class DeadlineExceededError(SalescalingError, TimeoutError):
    """The rate budget cannot grant the request before its deadline.

    ``retry_at`` is the loop time at which a grant is expected (``None`` when unknown) and
    ``retry_after`` the same as a delay from when the error was raised.
    """

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetStoreError(SalescalingError):
    """The shared budget store failed and the client is configured to fail closed."""


class TransportError(SalescalingError):
    """No HTTP response was received.

    ``sent`` tells whether the request may have reached the server: ``False`` only when
    the failure is proven to have happened before anything was written.
    """

    def __init__(self, message: str, *, method: str, url: str, sent: bool) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.sent = sent


class ConnectError(TransportError):
    """The connection could not be established; nothing was sent."""

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message, method=method, url=url, sent=False)


class ReadError(TransportError):
    """The connection broke after the request was (possibly) written."""


class RequestTimeoutError(TransportError, TimeoutError):
    """A connect, read or total timeout expired."""


class ResponseValidationError(SalescalingError):
    """The response body is not JSON, not the envelope, or does not fit the model.

    ``raw`` keeps the body text (truncated to 64 KiB); ``errors`` lists what did not fit.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str,
        status_code: int | None = None,
        errors: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.raw = raw[:65536]
        self.status_code = status_code
        self.errors = errors


class ResponseTooLargeError(ResponseValidationError):
    """The response body (after decompression) exceeded the configured limit.

    Reading stopped at the limit and the connection was dropped, not returned to the pool;
    ``limit`` is the limit in bytes, ``raw`` is empty (nothing past the limit is kept).

    .. versionadded:: 0.2.0
    """

    def __init__(self, message: str, *, limit: int, status_code: int | None = None) -> None:
        super().__init__(message, raw="", status_code=status_code)
        self.limit = limit


class APIStatusError(SalescalingError):
    """The server answered with a status code of 400 or more.

    Attributes:
        status_code: The HTTP status.
        method: The request method.
        url: The request URL (the API key is never part of it).
        body: The parsed JSON body, or the raw text when it was not JSON.
        message: The server's words: NestJS ``message`` (a list joined with ``"; "``),
            else the envelope's ``error``, else ``HTTP <status>``.
        messages: Each message of the body separately (NestJS validation lists).
        reason: NestJS ``error`` (``"Bad Request"``) when the body also has ``message``.
        request_id: The ``x-request-id`` response header, when present.
        retry_hints: Every ``Retry-After``/``Retry-After-<name>`` hint of the response, in
            seconds, by window name (``None`` for the plain header).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        body: Any = None,
        request_id: str | None = None,
        reason: str | None = None,
        messages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{status_code} {method} {url}: {message}")
        self.message = message
        self.reason = reason
        self.messages = messages
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body = body
        self.request_id = request_id
        self.retry_hints: dict[str | None, float] = {}


class BadRequestError(APIStatusError):
    """400 or 422: the server rejected the request's content."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks a permission; ``scope`` names the one the endpoint needs."""

    scope: str | None = None


class NotFoundError(APIStatusError):
    """404: no such resource."""


class RateLimitedError(APIStatusError):
    """429, or a retry hint too long for the caller's deadline.

    ``retry_after`` is the server's largest hint in seconds (``None`` when it gave none);
    ``paused_for`` the pause the scheduler applied to the key (the hint plus a margin, or
    the hintless backoff), ``None`` when no scheduler saw the response.
    """

    retry_after: float | None = None
    paused_for: float | None = None


class ServerError(APIStatusError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitedError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """Return the error class for an HTTP status of 400 or more."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)


# -- the server's words in an error body ----------------------------------------------------

_MAX_MESSAGES = 50
_MAX_MESSAGE_CHARS = 1000
_MAX_JOINED_CHARS = 2000  # the exception text; every message stays whole in ``messages``


class ErrorBody(NamedTuple):
    """Strictly private. What an error body says: see :func:`describe_error_body`."""

    message: str | None
    reason: str | None
    messages: tuple[str, ...]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.strip()[:_MAX_MESSAGE_CHARS]


def describe_error_body(body: Any) -> ErrorBody:
    """Extract the server's words from a decoded error body (pure; never raises).

    * NestJS ``{"statusCode", "message", "error"}``: ``message`` (a string, or a list of
      validation messages joined with ``"; "``) is the message and ``error`` the reason.
    * The API envelope ``{"statusCode", "error", "data"}`` without ``message``: ``error``
      is the message and there is no reason.
    * A text body: its first 200 characters.

    At most 50 messages of at most 1000 characters each are kept; the joined message is cut
    at 2000 characters (ending with an ellipsis).

    .. versionadded:: 0.2.0
    """
    if isinstance(body, str):
        return ErrorBody(body.strip()[:200] or None, None, ())
    if not isinstance(body, Mapping):
        return ErrorBody(None, None, ())
    raw = body.get("message")
    items = raw[:_MAX_MESSAGES] if isinstance(raw, list) else [raw] if raw is not None else []
    messages = tuple(t for t in map(_text, items) if t)
    raw_error = body.get("error")
    error = (_text(raw_error) or None) if isinstance(raw_error, str) else None
    if messages:
        joined = "; ".join(messages)
        if len(joined) > _MAX_JOINED_CHARS:
            joined = joined[: _MAX_JOINED_CHARS - 1] + "\u2026"
        return ErrorBody(joined, error, messages)
    return ErrorBody(error, None, (error,) if error else ())


class CircuitOpenError(SalescalingError):
    """The upstream failed repeatedly: calls fail at once until a probe may be sent.

    Nothing was sent.  ``retry_after`` is the number of seconds until the circuit lets one
    probe request through.

    .. versionadded:: 0.2.0
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueFullError(DeadlineExceededError):
    """The key's queue already holds the scheduler's ``max_queue`` waiters: refused at once.

    A subclass of :class:`DeadlineExceededError` because it means the same to a caller (the
    request was not granted in time, nothing was sent) and web integrations answer both with
    503 and ``Retry-After``; ``retry_after`` is a lower bound of when a slot frees (``None``
    when unknown).

    .. versionadded:: 0.2.0
    """
