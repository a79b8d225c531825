"""Test doubles: a fake clock and a fake transport. Public through ``salescaling_async.testing``."""

from __future__ import annotations

import heapq
import inspect
import itertools
import json as _json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Union

from .._config import RetryConfig
from .._request import RawRequest, RawResponse


class _FakeHandle:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told: ``advance()`` runs the timers that fall due.

    Pass it as ``clock=`` to :class:`AsyncSalescaling` or a scheduler.

    .. versionadded:: 0.1.0
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeHandle, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.fired = 0

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> _FakeHandle:
        handle = _FakeHandle()
        heapq.heappush(self._timers, (when, next(self._seq), handle, callback))
        return handle

    @property
    def pending(self) -> int:
        """Timers scheduled and not cancelled."""
        return sum(1 for t in self._timers if not t[2].cancelled)

    def next_due(self) -> float | None:
        """When the next live timer fires (``None`` if none)."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order (each at its own time)."""
        target = self._now + seconds
        while (due := self.next_due()) is not None and due <= target:
            when, _, _handle, callback = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            self.fired += 1
            callback()
        self._now = target


Handler = Callable[[RawRequest], Union[RawResponse, Awaitable[RawResponse]]]


class FakeTransport:
    """A transport answering with ``handler(request)`` (sync or async); records requests.

    .. versionadded:: 0.1.0
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[RawRequest] = []
        self.closed = False

    async def send(self, request: RawRequest) -> RawResponse:
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, RawResponse)
        return result

    async def aclose(self) -> None:
        self.closed = True


def json_response(
    data: Any = None,
    *,
    status: int = 200,
    count: int | None = None,
    headers: Mapping[str, str] | None = None,
    envelope: bool = True,
    url: str = "http://fake/",
) -> RawResponse:
    """A :class:`RawResponse` whose body is the API envelope around ``data`` (or ``data`` as is)."""
    if envelope:
        body_obj: Any = {
            "statusCode": status,
            "count": count if count is not None else (len(data) if isinstance(data, list) else 1),
            "error": None,
            "data": data,
        }
    else:
        body_obj = data
    hdrs = {"content-type": "application/json", **(headers or {})}
    return RawResponse(status, tuple(hdrs.items()), _json.dumps(body_obj).encode(), url)


def text_response(text: str, *, status: int = 200, headers: Mapping[str, str] | None = None) -> RawResponse:
    """A :class:`RawResponse` with a raw text body (HTML error pages, truncated JSON...)."""
    return RawResponse(status, tuple((headers or {}).items()), text.encode(), "http://fake/")


def no_retries() -> RetryConfig:
    """A :class:`RetryConfig` that makes one attempt only.

    .. versionadded:: 0.1.0
    """
    return RetryConfig(attempts=1)
