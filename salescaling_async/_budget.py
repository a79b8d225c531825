"""Pure budget math for one API key: the response-anchored sliding log.

Strictly private.  No asyncio, no time, no I/O: every method takes ``now`` (monotonic
seconds) and returns numbers, so Hypothesis can drive it through any history.

The rule (``rate-limits.md`` §3.2).  For a window of N requests per W seconds a request
*holds a slot* from the moment it is granted until ``response received + W + m``, and a
request is granted only while fewer than N slots are held in every window.  In-flight
requests hold their slot with no end yet.  Why this is safe against any server that counts a
request somewhere between send and receive: if N+1 of our requests were counted within W of
each other, take the one granted last.  Each of the N others was counted less than W before
it, so each was received less than W before it was granted and still held its slot then:
that grant would have been refused.  No latency, jitter, reordering or retry breaks this.

Data layout.  Completed slots are kept per window as a min-heap of expiry times
(``receive + W + m``); in-flight slots are a single counter shared by all windows, because an
in-flight slot is held in every window.  Finding when the next grant becomes possible is a
k-th-smallest query on each heap, where k is how far the window is over its limit (almost
always 1, i.e. the heap's top).

Why not a token bucket (aiolimiter): a bucket refills continuously and lets through up to 2N
requests in one W-long span, which a sliding-log server answers with 429 and a full-window
block.  Why anchor on responses and not on sends: the server's count happens at an unknown
moment before the response; only the response time bounds it from above.

Someone else on the key.  The safety argument covers our own requests only.  Hits the server
counted beyond ours become phantom hits (they are in the window now); when they are live
traffic, not an earlier process's history, they are also noted, and every window keeps room
for more of that traffic to come (``_foreign_room``).  Our own grants never overflow a window,
so a 429 on a warm key is proof of outside traffic the room did not cover: the room doubles.

Size: one module (~530 lines) because the log, its safety argument and the learning rules that
the property tests prove safe are one piece of reasoning.
"""

from __future__ import annotations

import bisect
import enum
import functools
import heapq
import math
from heapq import heappush

import attrs

from ._config import RateLimits, Window

INFINITY = math.inf
REORDER = 0.05  # seconds by which a request granted later may overtake an earlier one
RECENT = 5.0  # seconds a window remembers the expiries it purged (for counts taken that long ago)
MAX_CREDIT = 256
"""The most grants made without a look at the logs (see ``KeyBudget.delay``).  A look also
purges the expired slots, so this bounds what a window holds beyond its live slots: with
limits far above the traffic the credit would otherwise last for ever, and the logs would
keep every slot ever granted."""


class SlotState(enum.Enum):
    """Strictly private. Life cycle of one granted slot."""

    IN_FLIGHT = "in_flight"
    SETTLED = "settled"


_IN_FLIGHT = SlotState.IN_FLIGHT


class Slot:
    """Strictly private. One granted request's hold on the budget.

    ``id`` names the slot in a shared store (empty for a purely local slot); ``anchor`` is
    where the slot was settled (``None`` while in flight), so a store that lost its data can
    be re-seeded with this process's own recent slots.
    """

    __slots__ = ("anchor", "granted_at", "id", "seq", "state")

    def __init__(self, slot_id: str = "", seq: int = 0, granted_at: float = 0.0) -> None:
        self.state = _IN_FLIGHT
        self.id = slot_id
        self.seq = seq
        self.granted_at = granted_at
        self.anchor: float | None = None


class _WindowLog(list[float]):
    """Strictly private. One window's limit (which may only shrink) and completed slots.

    The object is itself the min-heap of the completed slots' expiry times (``heapq`` works
    on it directly): one object per window, not two, since a multi-tenant process makes
    three per key and every object a new key keeps is one more for the garbage collector to
    walk.  ``hold`` is how long a completed slot stays held after its anchor: W + m.
    """

    __slots__ = ("expired", "hold", "learned_until", "limit", "uncounted", "window")

    def __init__(self, window: Window, hold: float) -> None:
        self.window = window
        self.limit = window.limit
        self.hold = hold
        self.learned_until = -INFINITY  # a smaller learned ``limit`` lapses after this
        # Made on first use (an idle key of a multi-tenant process carries neither):
        self.uncounted: list[float] | None = None  # expiries of our 429s this window never counted
        self.expired: list[float] | None = None  # expiries purged within the last RECENT seconds, ascending

    def limit_at(self, now: float) -> int:
        """The effective limit: a learned smaller one until no header confirmed it for a while."""
        if self.limit != self.window.limit and now >= self.learned_until:
            self.limit = self.window.limit
        return self.limit

    def purge(self, now: float) -> None:
        heap = self
        if heap and heap[0] <= now:
            expired = self.expired
            if expired is None:
                expired = self.expired = []
            while heap and heap[0] <= now:
                expired.append(heapq.heappop(heap))  # ascending: ``now`` only grows
        expired = self.expired
        if expired and expired[0] <= now - RECENT:
            del expired[: bisect.bisect_right(expired, now - RECENT)]
            if not expired:
                self.expired = None
        uncounted = self.uncounted
        if uncounted:
            while uncounted and uncounted[0] <= now:
                heapq.heappop(uncounted)
            if not uncounted:
                self.uncounted = None

    def held_since(self, when: float) -> int:
        """Slots held at ``when`` (up to :data:`RECENT` seconds ago) that are still held or
        expired since: the most of ours a server count taken at ``when`` or later can hold."""
        expired = self.expired
        if not expired:
            return len(self)
        return len(self) + len(expired) - bisect.bisect_right(expired, when)

    def kth_expiry(self, k: int) -> float:
        """The k-th smallest expiry (1-based); callers ensure ``1 <= k <= len``."""
        if k == 1:
            return self[0]
        return heapq.nsmallest(k, self)[-1]


@functools.lru_cache(maxsize=64)
def _holds(limits: RateLimits) -> tuple[tuple[tuple[Window, float], ...], float, float, dict[str, int], int]:
    """Every window with its hold (W + m), the longest and the shortest hold, each window's
    position by its lower-case name, and the smallest limit (the grants a new key can make
    at once): worked out once per configuration, not per key."""
    holds = tuple((window, window.seconds + window.margin) for window in limits)
    index = {window.name.lower(): i for i, window in enumerate(limits)}
    smallest = min(window.limit for window in limits)
    return holds, max(hold for _, hold in holds), min(hold for _, hold in holds), index, smallest


@attrs.frozen
class BudgetSnapshot:
    """Strictly private. Numbers behind :class:`KeyStatistics`."""

    held: dict[str, int]
    limits: dict[str, int]
    in_flight: int
    paused_until: float
    next_grant_in: float


class KeyBudget:
    """Strictly private. The sliding logs of every window of one key.

    Args:
        limits: The windows to respect.
        ambiguity_horizon: Extra seconds an ambiguous outcome (a request that may or may not
            have reached the server) is held beyond ``now + W + m``.
    """

    __slots__ = (
        "_collided_at",
        "_collisions",
        "_credit",
        "_flying",
        "_in_flight",
        "_index",
        "_logs",
        "_notes",
        "_pace",
        "_seq",
        "ambiguity_horizon",
        "longest_hold",
        "paused_until",
        "shortest_hold",
    )

    def __init__(self, limits: RateLimits, *, ambiguity_horizon: float = 5.0) -> None:
        holds, self.longest_hold, self.shortest_hold, self._index, smallest = _holds(limits)
        self._logs = [_WindowLog(window, hold) for window, hold in holds]
        self._in_flight = 0
        self._seq = 0
        self._flying: dict[int, float] = {}  # grant number -> grant time, in flight, in grant order
        self._notes: list[float] | None = None  # when foreign hits were noted (ascending), see note_foreign
        self._collisions = 0  # 429s on a warm key within the longest hold, see collided
        self._collided_at = -INFINITY
        self._pace: tuple[float, float, float] | None = None  # (keep, interval, valid until), see pace_interval
        # Grants provably possible now without a look at the logs, see delay.  A new key holds
        # nothing, so every window has its whole limit free: what a first look would find.
        self._credit = min(smallest, MAX_CREDIT)
        self.paused_until = -INFINITY
        self.ambiguity_horizon = ambiguity_horizon

    # -- queries ------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def delay(self, now: float, *, fraction: float = 1.0, keep: float = 0.0) -> float:
        """Seconds until a grant is possible: 0 now, ``inf`` when it needs an in-flight response.

        ``fraction`` < 1 asks for a share of every limit, rounded down (the fallback share of
        one process of a fleet); a share that rounds to 0 can never grant: ``inf``.  ``keep``
        leaves that share of every limit (rounded down) free: the interactive reserve a bulk
        request may not take.

        The fast path: a full look at the logs also finds how many grants fit at once (the
        fewest free slots of any window); until those are used up the answer stays 0 without
        a look, because between grants a window's held count only falls (slots expire, a
        response only moves a slot from in flight to the log).  Whatever may raise it
        (phantoms, a learned limit, noted traffic, a pause) drops the credit, and none is
        given while outside traffic is noted (the room kept for it changes with time).  It
        is at most :data:`MAX_CREDIT` grants: a look is what purges the logs of a busy key.
        """
        if self._credit and fraction == 1.0 and not keep:
            return 0.0
        return self._wait(now, 0, exact=True, fraction=fraction, keep=keep)

    def earliest(self, now: float, *, ahead: int = 0) -> float:
        """A lower bound of the wait of the request with ``ahead`` grants before it.

        Slots still in flight cannot free before ``now + W + m`` (their response is not here
        yet), which is what makes the bound finite.
        """
        return self._wait(now, ahead, exact=False)

    def _wait(self, now: float, ahead: int, *, exact: bool, fraction: float = 1.0, keep: float = 0.0) -> float:
        wait = max(0.0, self.paused_until - now)
        free: float = INFINITY if exact and not ahead and fraction == 1.0 and not keep else 0  # the credit, see delay
        notes = self._notes
        if notes and notes[0] <= now - self.longest_hold:
            del notes[: bisect.bisect_right(notes, now - self.longest_hold)]
            if now - self._collided_at > self.longest_hold:
                self._collisions = 0
            if not notes:
                notes = self._notes = None
        for log in self._logs:
            log.purge(now)
            limit = log.limit if log.limit == log.window.limit else log.limit_at(now)
            if notes:
                limit = max(1, limit - self._foreign_room(log, now))
            if keep:
                limit = max(1, limit - math.floor(limit * keep))
            if fraction < 1.0:
                limit = math.floor(limit * fraction)
                if limit < 1:
                    return INFINITY
            if ahead >= limit:
                # At most ``limit`` grants fit in any span shorter than the hold (the safety
                # argument above), so the grant ``ahead`` places back is rounds * hold away.
                wait = max(wait, (ahead // limit) * log.hold)
            over = self._in_flight + len(log) + ahead - limit + 1
            if over <= 0:
                free = min(free, 1 - over)
                continue
            if over <= len(log):
                wait = max(wait, log.kth_expiry(over) - now)
            elif exact:
                return INFINITY
            else:
                wait = max(wait, log.hold)
        if free and not wait and free != INFINITY and not notes:
            # (no credit while outside traffic is noted: the room kept for it can grow
            # without any call, when its first note ages out and its rate is re-estimated)
            self._credit = min(int(free), MAX_CREDIT)
        return wait

    def _foreign_room(self, log: _WindowLog, now: float) -> int:
        """Slots ``log`` keeps free for foreign traffic that keeps coming (see :meth:`note_foreign`).

        The most of: the hits noted within the window's hold; the noted *rate* times the hold
        (a short window rarely sees the traffic in its own count: while our grants fill it no
        answer comes back, and our hits it no longer counts are still held), plus one slot for
        bursts once the traffic is steady (a hit every other short window or more; a sporadic
        note, such as one of our requests that overtook another by more than the reorder
        tolerance, costs only its own slot); the room collisions taught (:meth:`collided`);
        and one slot at least while any note lasts.
        """
        notes = self._notes
        if not notes:
            return 0
        recent = len(notes) - bisect.bisect_right(notes, now - log.hold)
        # The rate counts the hits noted *after* the first note: the first answer's hits may be
        # a one-off (a burst, a store that lost its log), only later ones show traffic going on.
        later = len(notes) - bisect.bisect_right(notes, notes[0])
        since = now - notes[0]
        expected = math.ceil(later * log.hold / max(log.hold, since))
        if later * self.shortest_hold >= 0.5 * max(self.shortest_hold, since):
            expected += 1  # steady traffic (a hit every other short window or more) comes in bursts
        return max(recent, expected, self._collisions, 1)

    def is_idle(self, now: float) -> bool:
        """True when the key holds nothing, so forgetting it loses no information.

        A learned smaller limit does not count: it is re-learned from the next response
        (and lapses anyway when no header confirms it).
        """
        if self._in_flight or self.paused_until > now:
            return False
        for log in self._logs:
            log.purge(now)
            if log:
                return False
        return True

    def snapshot(self, now: float) -> BudgetSnapshot:
        next_in = self._wait(now, 0, exact=True)  # a full look: the logs are purged
        return BudgetSnapshot(
            held={log.window.name: self._in_flight + len(log) for log in self._logs},
            limits={log.window.name: log.limit_at(now) for log in self._logs},
            in_flight=self._in_flight,
            paused_until=self.paused_until,
            next_grant_in=next_in,
        )

    # -- grant and outcomes -------------------------------------------------------------

    def take(self, now: float, slot_id: str = "") -> Slot:
        """Take a slot in every window; the budget must allow it now (checked)."""
        if self.delay(now) > 0:
            raise RuntimeError("KeyBudget.take() without budget")  # a scheduler bug
        return self.record(slot_id, now=now)

    def record(self, slot_id: str = "", *, now: float = 0.0) -> Slot:
        """Record a grant already decided (by the caller's own ``delay() == 0`` check, or by a
        shared store that holds the authoritative log), without checking again."""
        if self._credit:
            self._credit -= 1
        self._in_flight += 1
        self._seq += 1
        self._flying[self._seq] = now
        return Slot(slot_id, self._seq, now)

    def in_flight_before(self, slot: Slot, *, tolerance: float = REORDER) -> int:
        """Requests still in flight that the server may have counted before ``slot``.

        Requests reach the server about in grant order: those granted before ``slot``, or
        less than ``tolerance`` seconds after it (latency jitter may let them overtake it).
        Counting later ones would hide foreign hits.
        """
        flying = self._flying
        limit = slot.granted_at + tolerance
        if flying:
            # Grant times never fall (the clock is monotonic), so when the latest grant in
            # flight came before ``slot`` or within the tolerance, all of them count: no walk
            # over every request in flight for each response (the common case under load).
            last_seq, last_when = next(reversed(flying.items()))
            if last_seq <= slot.seq or last_when <= limit:
                return len(flying)
        count = 0
        for seq, when in flying.items():
            if seq > slot.seq and when > limit:
                break
            count += 1
        return count

    def effective_limits(self, now: float, *, keep: float = 0.0) -> list[int]:
        """The limit of every window now, learned smaller ones included (configuration order),
        minus a ``keep`` share (the interactive reserve, rounded down)."""
        limits = [log.limit_at(now) for log in self._logs]
        return [max(1, lim - math.floor(lim * keep)) for lim in limits] if keep else limits

    def pace_interval(self, now: float, *, keep: float = 0.0) -> float:
        """The spacing that spreads grants evenly over every window: the longest hold per
        slot of any window (its limit minus a ``keep`` share), i.e. the binding window's rate.

        Asked on every grant, so it is kept until a limit is learned or a learned one lapses.
        """
        cached = self._pace
        if cached is not None and cached[0] == keep and now < cached[2]:
            return cached[1]
        limits = self.effective_limits(now, keep=keep)
        interval = max(log.hold / lim for log, lim in zip(self._logs, limits, strict=True))
        lapses = min((log.learned_until for log in self._logs if log.limit != log.window.limit), default=INFINITY)
        self._pace = (keep, interval, lapses)
        return interval

    def received(self, slot: Slot, now: float) -> None:
        """The response arrived at ``now``: anchor the slot there (held until ``now + W + m``)."""
        if slot.state is not _IN_FLIGHT:
            return
        slot.state = SlotState.SETTLED
        slot.anchor = now
        self._in_flight -= 1
        self._flying.pop(slot.seq, None)
        for log in self._logs:
            heappush(log, now + log.hold)

    def ambiguous(self, slot: Slot, now: float) -> None:
        """Failure after sending began: the server may count it later, so hold it longer."""
        self.received(slot, now + self.ambiguity_horizon)

    def returned(self, slot: Slot) -> None:
        """Proven never sent (or cancelled before sending): the slot is given back."""
        if slot.state is SlotState.IN_FLIGHT:
            slot.state = SlotState.SETTLED
            self._in_flight -= 1
            self._flying.pop(slot.seq, None)

    # -- learning (only ever more cautious) ---------------------------------------------

    def observe(
        self,
        now: float,
        name: str,
        *,
        limit: int | None,
        remaining: int | None,
        learn_for: float = INFINITY,
        in_flight: int | None = None,
        older: tuple[float, int] | None = None,
        since: float | None = None,
    ) -> int:
        """Apply one window's ``Limit``/``Remaining`` headers seen on a response at ``now``.

        A smaller limit wins for ``learn_for`` seconds after the last header that says so
        (a route override seen once does not throttle the key forever).  ``limit -
        remaining`` is the server's count for the window; hits beyond what our own held
        slots explain belong to someone else using the key and are added as phantom hits
        anchored now.  ``in_flight`` is how many of our in-flight requests the server may
        have counted before answering (default: all of them; the scheduler passes the ones
        granted before the answered request, see :meth:`in_flight_before`): counting a
        request the server has not seen yet would hide a foreign hit.  Returns the phantoms
        added (the caller notes the most any window saw as live foreign traffic, see
        :meth:`note_foreign`).  ``older`` is ``(seconds, count)`` of a shorter window on
        the same response: at most ``count`` hits are that recent, so the other foreign hits
        are anchored ``seconds`` earlier (the latest they can have happened), and an earlier
        process's history ages out as early as it safely can.  ``since`` is when the answered
        request was granted: the server counted it at some moment after that, when slots that
        have expired by ``now`` may still have been in its window, so they count as ours too.
        """
        log = self._log(name)
        if log is None:
            return 0
        if limit is not None and 0 < limit < log.window.limit:
            log.limit = min(limit, log.limit_at(now))
            self._pace = None
            self._credit = 0
            log.learned_until = now + learn_for
        if limit is None or remaining is None:
            return 0
        log.purge(now)
        flying = self._in_flight if in_flight is None else in_flight
        # our 429s stay held (safe against servers that count them) but this window did not
        # count them: left in, they would hide as many foreign hits
        held = len(log) if since is None else log.held_since(since)
        foreign = (limit - remaining) - (flying + held - len(log.uncounted or ()))
        if foreign <= 0:
            return 0
        added = 0
        if older is not None and foreign > older[1]:
            added = self._add_phantoms(log, now - older[0], foreign - older[1])
            foreign = older[1]
        added += self._add_phantoms(log, now, min(foreign, log.limit - added))
        return added

    def note_foreign(self, now: float, count: int) -> None:
        """``count`` hits from outside this budget were just learned, and they are live traffic
        (the key was warm, or a second cold-start answer saw them arrive after the first):
        such traffic keeps coming, so every window keeps room for it while the notes last
        (the longest hold), see :meth:`_foreign_room`.
        """
        if count > 0:
            self._credit = 0
            if self._notes is None:
                self._notes = []
            self._notes.extend([now] * count)

    def collided(self, now: float) -> None:
        """A 429 on a warm key: outside traffic came in bursts the noted rate did not cover.
        Every window keeps twice as many slots free as after the last collision (1 after the
        first), until no collision happened for the longest hold."""
        if now - self._collided_at > self.longest_hold:
            self._collisions = 0
        self._collisions = 2 * self._collisions or 1
        self._collided_at = now
        self.note_foreign(now, 1)

    def rate_limited(self, now: float, hints: dict[str | None, float], fallback: float) -> float:
        """A 429 arrived at ``now``: pause the key and fill the named windows.

        ``hints`` maps a window name (``None`` for a plain ``Retry-After``) to seconds.
        Without hints the pause is ``fallback`` (the caller's backoff).  Returns the pause end.
        """
        self._credit = 0
        longest = max(hints.values(), default=fallback)
        margin = max((log.window.margin for log in self._logs), default=0.002)
        self.paused_until = max(self.paused_until, now + longest + margin)
        for name in hints:
            log = self._log(name) if name is not None else None
            if log is not None:
                log.purge(now)
                self._add_phantoms(log, now, log.limit_at(now) - self._in_flight - len(log))
        # A NestJS server stops at the first window that rejects: that one and the ones
        # checked after it never counted the rejected request (the slot, anchored now, stays).
        names = {name.lower() for name in hints if name is not None}
        named = [i for i, log in enumerate(self._logs) if log.window.name.lower() in names]
        for log in self._logs[min(named) :] if named else ():
            if log.uncounted is None:
                log.uncounted = []
            heapq.heappush(log.uncounted, now + log.hold)
        return self.paused_until

    def assume_held(self, now: float, anchor: float, held: list[int]) -> int:
        """Treat every window as holding at least ``held[i]`` slots anchored at ``anchor``
        (the rest of a fleet's slots, before this process grants on its own).  Returns the
        phantoms added."""
        added = 0
        for log, count in zip(self._logs, held, strict=False):
            log.purge(now)
            added += self._add_phantoms(log, anchor, count - self._in_flight - len(log))
        return added

    def _add_phantoms(self, log: _WindowLog, now: float, count: int) -> int:
        count = min(count, log.limit)  # never more than a full window
        if count > 0:
            self._credit = 0
        for _ in range(max(0, count)):
            heapq.heappush(log, now + log.hold)
        return max(0, count)

    def _log(self, name: str) -> _WindowLog | None:
        index = self._index.get(name)
        if index is None:
            index = self._index.get(name.lower())
            if index is None:
                return None
        return self._logs[index]
