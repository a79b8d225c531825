"""Typed events for hooks: throttle waits, 429s, retries and attempts. Standard library and attrs only.

Pass ``on_event=callback`` to :class:`AsyncSalescaling`; the callback runs synchronously in
the event loop and must be quick.  Its exceptions are logged, never raised.
"""

from __future__ import annotations

from typing import Union

import attrs

from ._types import Priority


@attrs.frozen
class ThrottleWait:
    """A request waited ``waited`` seconds for rate budget before being granted.

    .. versionadded:: 0.1.0
    """

    key: str
    waited: float
    priority: Priority


@attrs.frozen
class RateLimitHit:
    """The server answered 429; the key is paused for ``paused_for`` seconds.

    .. versionadded:: 0.1.0
    """

    key: str
    hints: dict[str | None, float]
    paused_for: float


@attrs.frozen
class RetryScheduled:
    """A failed attempt will be retried after ``delay`` seconds.

    .. versionadded:: 0.1.0
    """

    method: str
    url: str
    attempt: int
    delay: float
    error: str


@attrs.frozen
class RequestAttempt:
    """One HTTP attempt finished (each retry and redirect hop is one): what monitoring needs.

    Attributes:
        method: HTTP method.
        url: The URL sent, without the query (it may contain record ids).
        template: The endpoint's path template (``contacts/{id}``); ``""`` for ``client.request``.
        key: Hash of the API key (never the key).
        attempt: 1 for the first try, 2 for the first retry, ...
        throttle_wait: Seconds this attempt queued for rate budget.
        duration: Seconds from sending to the response (or the transport error).
        status: The HTTP status, ``None`` when no response arrived.
        error: The exception class name of a transport failure, else ``None``.

    .. versionadded:: 0.2.0
    """

    method: str
    url: str
    template: str
    key: str
    attempt: int
    throttle_wait: float
    duration: float
    status: int | None = None
    error: str | None = None


Event = Union[ThrottleWait, RateLimitHit, RetryScheduled, RequestAttempt]
