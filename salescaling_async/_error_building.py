"""Build the typed error of an HTTP error response. Strictly private.

Beside ``_errors`` (which stays standard-library only): this module reads responses and
``Retry-After`` hints, so it sits above the transport values and the retry policy.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._backoff import retry_hints
from ._endpoints import Endpoint
from ._errors import (
    APIStatusError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseValidationError,
    describe_error_body,
    status_error_class,
)
from ._request import RawResponse


@attrs.frozen
class Limited:
    """Strictly private. A 429 as the pipeline handled it: its hints (parsed once) and the pause."""

    hints: dict[str | None, float]
    pause: float


def status_error(
    response: RawResponse, endpoint: Endpoint[Any], body: Any, *, wall_now: float, limited: Limited | None = None
) -> APIStatusError:
    """The error for a status >= 400, with its request id, retry hints and needed scope.

    Args:
        response: The error response.
        endpoint: The operation called (its method and scope go into the error).
        body: The decoded JSON body, or the text when it is not JSON.
        wall_now: Wall-clock seconds, to turn an HTTP-date ``Retry-After`` into seconds.
        limited: For a 429 the pipeline already handled: its hints and the key's pause.
    """
    status = response.status
    cls = status_error_class(status)
    said = describe_error_body(body)
    error = cls(
        said.message or f"HTTP {status}",
        status_code=status,
        method=endpoint.method,
        url=response.url,
        body=body,
        request_id=response.header_map.get("x-request-id"),
        reason=said.reason,
        messages=said.messages,
    )
    hints = limited.hints if limited is not None else retry_hints(response.headers, wall_now)
    error.retry_hints = hints
    if isinstance(error, RateLimitedError):
        error.retry_after = max(hints.values()) if hints else None
        error.paused_for = limited.pause if limited is not None else None
    if isinstance(error, PermissionDeniedError) and endpoint.scope:
        error.scope = endpoint.scope
        error.args = (f"{error.args[0]} (this endpoint needs the scope {endpoint.scope!r})",)
    return error


REDACTED = "[REDACTED]"


def redact_response(response: RawResponse, secret: str | None) -> RawResponse:
    """``response`` with every occurrence of ``secret`` in its body replaced by ``[REDACTED]``.

    A server echoing the API key in an error message must not put the key into an
    exception's ``str``/``repr``, ``message``, ``messages``, ``reason`` or ``body``.
    """
    if not secret or secret.encode() not in response.body:
        return response
    return attrs.evolve(response, body=response.body.replace(secret.encode(), REDACTED.encode()))


def redact_validation_error(error: ResponseValidationError, secret: str | None) -> ResponseValidationError:
    """Remove ``secret`` from a :class:`ResponseValidationError`'s ``raw``, message and errors."""
    if secret:
        error.raw = error.raw.replace(secret, REDACTED)
        error.args = tuple(a.replace(secret, REDACTED) if isinstance(a, str) else a for a in error.args)
        error.errors = tuple(e.replace(secret, REDACTED) for e in error.errors)
    return error
