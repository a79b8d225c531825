"""Where a key's response-anchored log lives: the budget-store interface. Strictly private.

The scheduler (``_scheduler.py``) is one shell: lanes, FIFO, deadlines, the key's one timer,
the 429 pause, header learning, cold start, events and statistics.  Under it every key keeps
a :class:`~._budget.KeyBudget` (``view``): for the in-process store that *is* the log; for a
shared store (Redis) it mirrors this process's own slots, pause and learned limits, which is
a lower bound of the shared log and answers most "must we wait?" questions without a round
trip.  A shared store adds a :class:`KeyLog` per key: the authoritative log, asked once per
grant by the head of the key's queue.

Nothing here imports Redis: the session types ``budget=`` as :class:`BudgetStore` and never
imports a store implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._backoff import WindowHeaders
from ._budget import Slot
from ._clock import Clock
from ._config import RateLimits


class KeyLog(Protocol):
    """One key's log in a shared store.  Strictly private.

    ``acquire`` is the only awaited operation; outcomes and pauses are written in the
    background (retried; a slot that cannot be written expires by itself).
    """

    def local_share(self, now: float) -> tuple[float, float] | None:
        """``(share, until)``: the share of every limit this process may grant on its own
        until the store is tried again (it is unreachable and configured to fall back), or
        ``None`` to ask the store."""
        ...

    async def acquire(self, slot_id: str, limits: Sequence[int]) -> float:
        """Take slot ``slot_id`` in the shared log under ``limits``.

        Returns 0 when granted, otherwise seconds to wait (a short poll when the blocking
        slot is another process's request in flight).  Idempotent per ``slot_id``.  When the
        store fails: raises :class:`~._errors.BudgetStoreError` (fail closed) or returns a
        negative number after switching to the local share (fail open).
        """
        ...

    def granted(self, slot: Slot) -> None:
        """``slot`` was granted to this process (by the store, or locally on the fallback)."""
        ...

    def fleet_view(self) -> tuple[float, Sequence[int]] | None:
        """``(anchor, held)``: the slots the whole fleet held per window at the store's last
        answer, anchored no earlier than it, for a switch to the local share to start from
        (``None`` when never answered)."""
        ...

    def settle(self, slot: Slot, outcome: str, headers: Sequence[WindowHeaders]) -> None:
        """Write ``outcome`` (``received``/``ambiguous``/``returned``) of ``slot`` and, for a
        response, the server's counts from ``headers`` (phantom hits, opening the key)."""
        ...

    def pause(self, seconds: float, windows: Sequence[str]) -> None:
        """Pause the key for every process sharing the store and fill the named windows."""
        ...


class StoreBackend(Protocol):
    """A connected store: hands out per-key logs.  Strictly private."""

    def key_log(self, key: str) -> KeyLog | None:
        """The shared log of ``key``, or ``None`` when the local view is the log."""
        ...

    async def aclose(self) -> None:
        """Cancel background work and close connections; nothing reconnects afterwards."""
        ...


class BudgetStore(Protocol):
    """Where the budget of each API key lives (``budget=`` of the clients).

    The default keeps it in the process; :class:`~salescaling_async.RedisBudget` shares it
    between processes and machines.

    .. versionadded:: 0.2.0
    """

    def connect(self, limits: RateLimits, clock: Clock) -> StoreBackend:
        """Strictly private: the backend one scheduler uses."""
        ...


class _LocalBackend:
    """Strictly private. The in-process store: the view is the log."""

    def key_log(self, key: str) -> KeyLog | None:
        return None

    async def aclose(self) -> None:
        return None


class LocalBudget:
    """The budget kept in this process (the default of every client).

    .. versionadded:: 0.2.0
    """

    def connect(self, limits: RateLimits, clock: Clock) -> StoreBackend:
        return _LocalBackend()

    def __repr__(self) -> str:
        return "LocalBudget()"
