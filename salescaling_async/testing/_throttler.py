"""The simulator's throttler: how a NestJS ``@nestjs/throttler`` server counts (rate-limits.md §2).

Strictly private.  Pure: every call takes ``now`` in seconds.

* Windows are checked in order (short -> medium -> long) and checking stops at the first that
  rejects, so earlier windows counted the request and later ones never saw it.
* ``sliding`` storage (the module's default): each accepted hit counts for exactly one window
  length after it was recorded.  Going over blocks the window for ``block_duration`` (default:
  the window length) from the rejected request; blocked requests are not counted in that
  window; when the block ends the window's log is emptied.
* ``fixed`` storage (a common Redis storage): a window starts at the first hit, every request
  counts, blocked or not.
* Headers: ``X-RateLimit-{Limit,Remaining,Reset}-<name>`` for each window that ran, and
  ``Retry-After-<name>`` only on a 429.  ``Reset`` counts down to a timer started at the
  key's first hit; it does not say when a slot frees.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Literal

import attrs

from .._config import Window

Storage = Literal["sliding", "fixed"]


@attrs.define
class _WindowState:
    hits: deque[float] = attrs.field(factory=deque)
    count: int = 0  # fixed storage
    window_start: float = -math.inf  # fixed storage
    blocked_until: float = -math.inf
    reset_at: float = -math.inf


@attrs.frozen
class Verdict:
    """Strictly private. Outcome of one request at the throttler."""

    allowed: bool
    headers: tuple[tuple[str, str], ...]
    rejected_by: str | None = None


def format_seconds(seconds: float) -> str:
    """Whole seconds rounded up, as NestJS sends (``Math.ceil(ms / 1000)``), at any scale.

    A scaled window is just a short window to the real throttler, which still answers in
    whole seconds: a block of 26.298 s is ``27``, one of 0.1 s is ``1``.  (The 1 ns slack
    keeps float noise such as 3.0000000000000004 from rounding up to 4.)
    """
    return str(max(0, math.ceil(seconds - 1e-9)))


class Throttler:
    """Strictly private. Counts hits per (scope key, window) like the NestJS module."""

    def __init__(
        self,
        windows: Sequence[Window],
        *,
        storage: Storage = "sliding",
        block_duration: float | None = None,
    ) -> None:
        self.windows = tuple(windows)
        self.storage = storage
        self.block_duration = block_duration
        self._state: dict[tuple[str, str], _WindowState] = {}

    def hit(self, key: str, now: float) -> Verdict:
        headers: list[tuple[str, str]] = []
        for window in self.windows:
            state = self._state.setdefault((key, window.name), _WindowState())
            block = self.block_duration if self.block_duration is not None else window.seconds
            count, rejected = (self._fixed if self.storage == "fixed" else self._sliding)(state, window, now, block)
            if rejected:
                retry = format_seconds(state.blocked_until - now)
                headers.append((f"Retry-After-{window.name}", retry))
                return Verdict(False, tuple(headers), window.name)
            if state.reset_at <= now:
                state.reset_at = now + window.seconds
            fmt = format_seconds(state.reset_at - now)
            headers += [
                (f"X-RateLimit-Limit-{window.name}", str(window.limit)),
                (f"X-RateLimit-Remaining-{window.name}", str(max(0, window.limit - count))),
                (f"X-RateLimit-Reset-{window.name}", fmt),
            ]
        return Verdict(True, tuple(headers))

    @staticmethod
    def _sliding(state: _WindowState, window: Window, now: float, block: float) -> tuple[int, bool]:
        if state.blocked_until > now:
            return len(state.hits), True
        if state.blocked_until > -math.inf:  # the block ended: the log is emptied
            state.blocked_until = -math.inf
            state.hits.clear()
        hits = state.hits
        while hits and hits[0] <= now - window.seconds:
            hits.popleft()
        hits.append(now)
        if len(hits) > window.limit:
            state.blocked_until = now + block
            return len(hits), True
        return len(hits), False

    @staticmethod
    def _fixed(state: _WindowState, window: Window, now: float, block: float) -> tuple[int, bool]:
        if now >= state.window_start + window.seconds:
            state.window_start, state.count = now, 0
        state.count += 1  # counts blocked requests too
        if state.blocked_until > now:
            return state.count, True
        if state.count > window.limit:
            state.blocked_until = now + block
            return state.count, True
        return state.count, False
