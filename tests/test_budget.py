"""Property tests of the pure budget math: no server-side window ever sees over its limit."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import RateLimits, Window
from salescaling_async._budget import INFINITY, MAX_CREDIT, REORDER, KeyBudget, Slot

LIMITS = RateLimits((Window("a", 3, 1.0), Window("b", 5, 4.0)))


def _max_in_span(times: list[float], span: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= span:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _settle(budget: KeyBudget, outcome: str, slot: Slot, now: float) -> None:
    """Settle ``slot`` with ``outcome`` (``ok``, ``ambiguous`` or ``unsent``) at ``now``."""
    if outcome == "ok":
        budget.received(slot, now)
    elif outcome == "ambiguous":
        budget.ambiguous(slot, now)
    else:
        budget.returned(slot)


request_stream = st.lists(
    st.tuples(
        st.floats(0.0, 0.5),  # gap before the client wants to send
        st.floats(0.0, 1.0),  # fraction of the round trip before the server counts it
        st.floats(0.001, 2.0),  # round-trip latency
        st.sampled_from(["ok", "ok", "ok", "ambiguous", "unsent"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(request_stream)
def test_no_window_ever_exceeded(stream: list[tuple[float, float, float, str]]) -> None:
    """Whatever the latencies, reorderings and outcomes, every window of every length holds.

    An event-driven simulation: a request is granted at the earliest moment the budget
    allows, the server counts it at a random point of its round trip, and the response
    settles the slot.  Counted times must never put more than N in any W-long span, which
    covers sliding windows and fixed windows with any anchor.
    """
    budget = KeyBudget(LIMITS, ambiguity_horizon=2.0)
    now = 0.0
    pending: list[tuple[float, str, object]] = []  # (receive time, outcome, slot)
    counted: list[float] = []
    for gap, frac, rtt, outcome in stream:
        now += gap
        while True:
            pending.sort(key=lambda p: p[0])
            # settle everything that has completed by now
            while pending and pending[0][0] <= now:
                t, kind, slot = pending.pop(0)
                _settle(budget, kind, slot, t)  # type: ignore[arg-type]
            delay = budget.delay(now)
            assert delay >= 0
            if delay == 0:
                break
            next_event = min([now + delay] + [p[0] for p in pending])
            assert next_event < INFINITY
            now = next_event
        slot = budget.take(now)
        if outcome != "unsent":
            counted.append(now + frac * rtt)
        pending.append((now + rtt, outcome, slot))
    for window in LIMITS:
        assert _max_in_span(counted, window.seconds) <= window.limit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 0.3), min_size=1, max_size=30))
def test_returned_slots_restore_capacity_exactly(gaps: list[float]) -> None:
    """Slots given back (never sent) leave the budget as if they had never been taken."""
    budget = KeyBudget(LIMITS)
    now = 0.0
    for gap in gaps:
        now += gap
        if budget.delay(now) == 0:
            budget.returned(budget.take(now))
    assert budget.is_idle(now)
    assert budget.snapshot(now).held == {"a": 0, "b": 0}


def test_in_flight_slots_block_until_a_response() -> None:
    """With every slot in flight, the wait is infinite: only a response can free one."""
    budget = KeyBudget(RateLimits((Window("w", 2, 1.0),)))
    first, _second = budget.take(0.0), budget.take(0.0)
    assert budget.delay(0.0) == INFINITY
    budget.received(first, 0.5)
    margin = 0.002 + 1e-4
    assert math.isclose(budget.delay(0.5), 1.0 + margin)
    assert budget.delay(1.5 + margin) == 0


def test_settling_twice_is_harmless() -> None:
    """A slot settled twice counts once."""
    budget = KeyBudget(RateLimits((Window("w", 2, 1.0),)))
    slot = budget.take(0.0)
    budget.received(slot, 0.1)
    budget.received(slot, 0.2)
    budget.returned(slot)
    assert budget.snapshot(0.2).held == {"w": 1}


def test_learning_only_makes_the_budget_stricter() -> None:
    """A smaller server limit wins, a larger one is ignored, foreign hits become phantoms."""
    budget = KeyBudget(RateLimits((Window("short", 20, 1.0),)))
    slot = budget.take(0.0)
    budget.received(slot, 0.1)
    assert budget.observe(0.1, "SHORT", limit=50, remaining=40) == 9  # 10 counted, 1 ours
    assert budget.snapshot(0.1).limits == {"short": 20}
    budget.observe(0.1, "short", limit=15, remaining=5)
    assert budget.snapshot(0.1).limits == {"short": 15}
    assert budget.snapshot(0.1).held == {"short": 10}
    assert budget.observe(0.1, "unknown", limit=1, remaining=0) == 0


def test_rate_limited_pauses_and_fills_the_named_window() -> None:
    """A 429 pauses the key past the hint and treats the named window as full."""
    budget = KeyBudget(LIMITS)
    until = budget.rate_limited(10.0, {"b": 4.0}, fallback=1.0)
    assert until > 14.0
    assert budget.delay(10.0) >= 4.0
    assert budget.snapshot(10.0).held["b"] == 5
    assert budget.delay(until) == 0  # phantoms expire with the pause (anchor + W + m)


def test_deadline_lower_bound_counts_requests_ahead() -> None:
    """``earliest(now, ahead=k)`` is a lower bound of the wait of the request k places back in the queue."""
    budget = KeyBudget(RateLimits((Window("w", 2, 1.0),)))
    for t in (0.0, 0.1):
        budget.received(budget.take(t), t)
    assert budget.earliest(0.1, ahead=0) > 0.9
    assert budget.earliest(0.1, ahead=1) > 1.0
    assert budget.earliest(0.1, ahead=2) >= 1.0  # needs a response of a request not yet sent
    budget.take(1.2), budget.take(1.2)
    assert budget.delay(1.2) == INFINITY and budget.earliest(1.2) >= 1.0


def test_requests_granted_later_do_not_hide_foreign_hits() -> None:
    """Only in-flight requests granted before the answered one count as possibly seen by the server."""
    budget = KeyBudget(RateLimits((Window("w", 10, 1.0),)))
    first, _second, _third = budget.take(0.0), budget.take(0.0), budget.take(0.0)
    late = budget.take(0.2)
    budget.received(first, 0.1)
    assert budget.in_flight_before(first) == 2  # granted with it: they may have overtaken it; not ``late``
    budget.returned(late)
    before = budget.in_flight_before(first, tolerance=-1.0)
    assert before == 0
    # the server counted 3: ours (first) and 2 foreign; the two granted after it are not there yet
    assert budget.observe(0.1, "w", limit=10, remaining=7, in_flight=before) == 2


def test_foreign_traffic_seen_while_warm_keeps_room() -> None:
    """New outside traffic keeps as many slots free again while it is in the window."""
    budget = KeyBudget(RateLimits((Window("w", 10, 1.0),)))
    budget.received(budget.take(0.0), 0.0)
    assert budget.observe(0.0, "w", limit=10, remaining=6) == 3
    budget.note_foreign(0.0, 3)
    granted = 0
    while budget.delay(0.0) == 0:
        budget.take(0.0)
        granted += 1
    assert granted == 3  # 10 - 1 ours - 3 phantoms - 3 kept for the outside client
    assert budget.delay(2.0) == 0 and budget.snapshot(2.0).held == {"w": 3}  # the reserve aged out


def test_fallback_starts_from_what_the_fleet_held() -> None:
    """Switching to a local share, a process assumes the fleet's slots are still in the window."""
    budget = KeyBudget(RateLimits((Window("w", 8, 1.0),)))
    budget.received(budget.take(0.0), 0.0)
    assert budget.assume_held(0.5, 0.5, [6]) == 5  # 6 held by the fleet, 1 of them ours
    assert budget.delay(0.5, fraction=0.25) > 0  # our 2-slot share is already spent by the fleet
    assert budget.delay(1.6, fraction=0.25) == 0


def test_history_older_than_a_shorter_window_ages_out_earlier() -> None:
    """Foreign hits beyond a shorter window's count are anchored that window earlier (safely)."""
    budget = KeyBudget(RateLimits((Window("short", 5, 1.0), Window("long", 20, 10.0))))
    budget.received(budget.take(0.0), 0.0)
    # the long window counts 10 (1 ours); only 3 hits are within the last second
    assert budget.observe(0.0, "long", limit=20, remaining=10, older=(1.0, 3)) == 9
    assert budget.snapshot(8.9).held["long"] == 10
    assert budget.snapshot(9.05).held["long"] == 4  # 6 phantoms were at least 1 s old: gone first
    assert budget.snapshot(10.1).held["long"] == 0


@settings(max_examples=200, deadline=None)
@given(request_stream, st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5]), min_size=60, max_size=60))
def test_no_window_ever_exceeded_with_lanes(stream: list[tuple[float, float, float, str]], keeps: list[float]) -> None:
    """Grants of both lanes (bulk keeping a reserve, interactive taking it) never exceed a window."""
    budget = KeyBudget(LIMITS, ambiguity_horizon=2.0)
    now = 0.0
    pending: list[tuple[float, str, object]] = []
    counted: list[float] = []
    for (gap, frac, rtt, outcome), keep in zip(stream, keeps, strict=False):
        now += gap
        while True:
            pending.sort(key=lambda p: p[0])
            while pending and pending[0][0] <= now:
                t, kind, slot = pending.pop(0)
                _settle(budget, kind, slot, t)  # type: ignore[arg-type]
            delay = budget.delay(now, keep=keep)
            assert delay >= 0
            if delay == 0:
                break
            now = min([now + delay] + [p[0] for p in pending])
        slot = budget.record(now=now)
        if outcome != "unsent":
            counted.append(now + frac * rtt)
        pending.append((now + rtt, outcome, slot))
    for window in LIMITS:
        assert _max_in_span(counted, window.seconds) <= window.limit


def test_pace_interval_is_the_binding_window_rate() -> None:
    """Bulk pacing spreads grants at the slowest window's rate, the reserve left out."""
    budget = KeyBudget(RateLimits((Window("short", 20, 1.0), Window("long", 1000, 60.0))))
    long_hold = 60.0 + Window("long", 1000, 60.0).margin
    assert budget.pace_interval(0.0) == pytest.approx(long_hold / 1000)
    assert budget.pace_interval(0.0, keep=0.05) == pytest.approx(long_hold / 950)
    budget.observe(0.0, "short", limit=5, remaining=None)  # a learned smaller limit binds
    assert budget.pace_interval(0.0) == pytest.approx((1.0 + Window("short", 20, 1.0).margin) / 5)


def test_pace_interval_follows_learned_limits_and_their_lapse() -> None:
    """The pacing interval (kept between grants) changes when a smaller limit is learned and
    again when it lapses."""
    budget = KeyBudget(RateLimits((Window("w", 10, 1.0),)))
    free = budget.pace_interval(0.0)
    assert budget.pace_interval(0.5) == free
    budget.observe(0.5, "w", limit=5, remaining=None, learn_for=2.0)
    assert budget.pace_interval(0.6) == pytest.approx(2 * free)
    assert budget.pace_interval(0.6, keep=0.2) == pytest.approx(budget.longest_hold / 4)
    assert budget.pace_interval(2.6) == free  # no header confirmed the smaller limit: it lapsed


budget_events = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.floats(0.0, 0.2)),
        st.tuples(st.just("receive"), st.floats(0.0, 0.5)),
        st.tuples(st.just("ambiguous"), st.floats(0.0, 0.5)),
        st.tuples(st.just("return"), st.floats(0.0, 0.5)),
        st.tuples(st.just("observe"), st.integers(0, 6)),
        st.tuples(st.just("limit"), st.integers(1, 4)),
        st.tuples(st.just("foreign"), st.integers(1, 3)),
        st.tuples(st.just("429"), st.floats(0.0, 2.0)),
        st.tuples(st.just("collided"), st.just(0)),
        st.tuples(st.just("wait"), st.floats(0.0, 5.0)),  # notes and slots age out
        st.tuples(st.just("fleet"), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(budget_events)
def test_the_grant_credit_never_grants_what_a_full_look_refuses(events: list[tuple[str, float]]) -> None:
    """``delay()`` answers 0 from a credit between full looks: whatever happens to the key
    (phantoms, learned limits, noted traffic, pauses, outcomes, time), a 0 from the credit is
    a 0 from a full look at the logs too."""
    budget = KeyBudget(LIMITS, ambiguity_horizon=2.0)
    now = 0.0
    flying: list[Slot] = []
    for kind, value in events:
        if kind == "take":
            now += value
            if budget.delay(now) == 0:
                flying.append(budget.record(now=now))
        elif kind in ("receive", "ambiguous", "return") and flying:
            now += value
            _settle(budget, {"receive": "ok", "return": "unsent"}.get(kind, kind), flying.pop(0), now)
        elif kind == "observe":
            budget.observe(now, "a", limit=3, remaining=3 - min(3, int(value)))
        elif kind == "limit":
            budget.observe(now, "b", limit=int(value), remaining=None, learn_for=1.0)
        elif kind == "foreign":
            budget.note_foreign(now, int(value))
        elif kind == "429":
            budget.rate_limited(now, {"a": value} if value else {}, 0.5)
        elif kind == "collided":
            budget.collided(now)
        elif kind == "wait":
            now += value
        elif kind == "fleet":
            budget.assume_held(now, now, [int(value), int(value)])
        if budget.delay(now) == 0:
            assert budget.snapshot(now).next_grant_in == 0  # a full look agrees


def test_limits_far_above_the_traffic_keep_only_the_live_slots() -> None:
    """With limits no traffic reaches, the credit alone would grant for ever without a look
    at the logs, and the logs, purged only by a look, would keep every slot ever granted
    (found measuring a key asked 1000 times a second: 300,000 slots per window after 300 s,
    about 100 bytes per request for good).  The credit is capped, so they hold what their
    windows still count."""
    windows = (Window("short", 10**9, 1.0), Window("medium", 10**9, 10.0), Window("long", 10**9, 60.0))
    budget = KeyBudget(RateLimits(windows))
    now, rate = 0.0, 1000
    for _ in range(150_000):  # 150 s at 1000 grants a second, each answered at once
        assert budget.delay(now) == 0
        budget.received(budget.record(now=now), now)
        now += 1 / rate
    for log in budget._logs:
        live = sum(1 for expiry in log if expiry > now)
        assert live >= rate * log.window.seconds  # what the window still counts is all kept
        assert len(log) <= rate * log.hold + MAX_CREDIT + 1  # beyond the live ones, a credit's worth at most
        assert len(log) < rate * (log.hold + 1)


def test_the_credit_ends_when_noted_traffic_ages_out() -> None:
    """When the first note of outside traffic ages out, the noted rate covers a shorter span
    and the room kept for that traffic grows: grants from an earlier credit must not take it
    (found in review: 19 grants where a full look allowed 18)."""

    def noted() -> KeyBudget:
        budget = KeyBudget(RateLimits())
        for at, count in ((0.0, 1), (50.0, 1), (55.0, 10)):
            budget.note_foreign(at, count)
        return budget

    budget = noted()
    assert budget.delay(59.9) == 0  # a full look, while the first note still counts
    granted = 0
    while budget.delay(60.1) == 0 and granted < 25:
        budget.record(now=60.1)
        granted += 1
    fresh, allowed = noted(), 0
    while fresh.snapshot(60.1).next_grant_in == 0 and allowed < 25:  # a full look every time
        fresh.record(now=60.1)
        allowed += 1
    assert granted == allowed == 18


@given(
    st.lists(st.floats(0.0, 0.08), min_size=1, max_size=40),
    st.data(),
)
def test_in_flight_before_counts_what_the_walk_in_grant_order_counts(gaps: list[float], data: st.DataObject) -> None:
    """The shortcut (the latest grant decides) gives the plain rule's count: requests in flight
    in grant order, up to the first one granted after ``slot`` and beyond the tolerance."""
    budget = KeyBudget(RateLimits((Window("w", 1000, 1.0),)))
    now, slots = 0.0, []
    for gap in gaps:  # grant times never fall: the clock is monotonic
        now += gap
        slots.append(budget.take(now))
    answered = data.draw(st.sets(st.sampled_from(range(len(slots)))))
    for i in sorted(answered):
        budget.received(slots[i], now)
    for i in answered:
        slot, limit = slots[i], slots[i].granted_at + REORDER
        expected = 0
        for other in slots:
            if other is slot or slots.index(other) in answered:
                continue
            if other.seq > slot.seq and other.granted_at > limit:
                break
            expected += 1
        assert budget.in_flight_before(slot) == expected
