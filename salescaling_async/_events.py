"""Typed events for hooks: throttle waits, 429s and retries. Standard library and attrs only.

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


Event = Union[ThrottleWait, RateLimitHit, RetryScheduled]
