"""Scheduler behaviour under a fake clock: order, lanes, deadlines, cancellation, scale."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from salescaling_async import DeadlineExceededError, Priority, RateLimits, Window
from salescaling_async._scheduler import Permit, Scheduler
from salescaling_async.testing import FakeClock

from .conftest import settle

ONE = RateLimits((Window("w", 1, 1.0),))


def _scheduler(clock: FakeClock, limits: RateLimits = ONE, **kwargs: object) -> Scheduler:
    return Scheduler(limits, clock=clock, **kwargs)  # type: ignore[arg-type]


async def _take(sched: Scheduler, order: list[str], name: str, **kwargs: object) -> Permit:
    permit = await sched.acquire("k", **kwargs)  # type: ignore[arg-type]
    order.append(name)
    return permit


async def test_grants_in_fifo_order(clock: FakeClock) -> None:
    """Waiters of one lane are granted in arrival order, one per freed slot."""
    sched = _scheduler(clock)
    order: list[str] = []
    tasks = [asyncio.create_task(_take(sched, order, str(i))) for i in range(5)]
    await settle()
    assert order == ["0"]
    for i in range(1, 5):
        tasks[i - 1].result().received()
        await settle()
        assert order == [str(j) for j in range(i)]  # the slot is held W + m after receipt
        clock.advance(1.01)
        await settle()
        assert order == [str(j) for j in range(i + 1)]


async def test_interactive_first_but_bulk_never_starves(clock: FakeClock) -> None:
    """Interactive waiters go first; after ``bulk_every`` of them one bulk waiter is served."""
    sched = _scheduler(clock, bulk_every=2)
    order: list[str] = []
    first = await sched.acquire("k")
    tasks = [asyncio.create_task(_take(sched, order, f"b{i}", priority=Priority.BULK)) for i in range(2)]
    tasks += [asyncio.create_task(_take(sched, order, f"i{i}")) for i in range(5)]
    await settle()
    first.received()
    settled: set[asyncio.Task[Permit]] = set()
    for task_count in range(7):
        clock.advance(1.01)
        await settle()
        assert len(order) == task_count + 1
        done = next(t for t in tasks if t.done() and t not in settled)
        settled.add(done)
        done.result().received()
    assert order == ["i0", "i1", "b0", "i2", "i3", "b1", "i4"]


async def test_deadline_fails_fast_when_provably_unreachable(clock: FakeClock) -> None:
    """A deadline the budget cannot meet fails at once with a retry hint."""
    sched = _scheduler(clock)
    permit = await sched.acquire("k")
    permit.received()
    with pytest.raises(DeadlineExceededError) as info:
        await sched.acquire("k", deadline=clock.now() + 0.5)
    assert info.value.retry_after is not None and info.value.retry_after > 0.5
    assert clock.pending == 0  # failing fast armed nothing


async def test_deadline_expires_while_waiting_for_a_response(clock: FakeClock) -> None:
    """When the wait depends on an in-flight response, the key's one timer enforces the deadline."""
    sched = _scheduler(clock)
    await sched.acquire("k")  # in flight, never answered
    task = asyncio.create_task(sched.acquire("k", deadline=clock.now() + 2.0))
    await settle()
    assert not task.done() and clock.pending == 1
    clock.advance(2.0)
    await settle()
    with pytest.raises(DeadlineExceededError):
        task.result()
    assert sched.statistics("k").queued["interactive"] == 0


async def test_cancel_while_queued_leaks_nothing(clock: FakeClock) -> None:
    """A waiter cancelled in the queue consumes no slot and the next waiter gets its turn."""
    sched = _scheduler(clock)
    first = await sched.acquire("k")
    order: list[str] = []
    doomed = asyncio.create_task(_take(sched, order, "doomed"))
    survivor = asyncio.create_task(_take(sched, order, "survivor"))
    await settle()
    doomed.cancel()
    await settle()
    first.received()
    clock.advance(1.01)
    await settle()
    assert order == ["survivor"]
    stats = sched.statistics("k")
    assert stats.granted == 2 and stats.queued == {"interactive": 0, "bulk": 0}
    survivor.result().failed(sent=False)


async def test_cancel_after_grant_before_resuming_returns_the_slot(clock: FakeClock) -> None:
    """A waiter granted and cancelled before it resumed gives its slot straight back."""
    sched = _scheduler(clock)
    first = await sched.acquire("k")
    task = asyncio.create_task(sched.acquire("k"))
    await settle()
    first.received()
    clock.advance(1.01)  # the timer grants: the future has its result...
    task.cancel()  # ...but the task is cancelled before it runs again
    await settle()
    assert task.cancelled()
    assert sched.statistics("k").in_flight == 0
    again = await asyncio.wait_for(sched.acquire("k"), 0.1)  # granted at once: the slot came back
    again.received()


async def test_unsent_permit_returns_and_ambiguous_holds(clock: FakeClock) -> None:
    """Proven-unsent failures give the slot back; failures after sending hold it longer."""
    sched = _scheduler(clock, RateLimits((Window("w", 2, 1.0),)))
    (await sched.acquire("k")).failed(sent=False)
    assert sched.statistics("k").held == {"w": 0}
    (await sched.acquire("k")).failed(sent=True)
    clock.advance(1.5)
    assert sched.statistics("k").held == {"w": 1}  # now + 5 s horizon + W
    clock.advance(5.0)
    assert sched.statistics("k").held == {"w": 0}


async def test_ten_thousand_waiters_one_timer(clock: FakeClock) -> None:
    """10,000 waiters on one key cost one armed timer and about one wake-up per grant."""
    sched = _scheduler(clock, RateLimits((Window("w", 100, 1.0),)))
    granted: list[Permit] = []

    async def worker() -> None:
        permit = await sched.acquire("k")
        permit.received()
        granted.append(permit)

    tasks = [asyncio.create_task(worker()) for _ in range(10_000)]
    await settle()
    assert len(granted) == 100
    assert clock.pending == 1
    fired_before = clock.fired
    while len(granted) < 10_000:
        clock.advance(clock.next_due() - clock.now())  # type: ignore[operator]
        await settle(2)
        assert clock.pending <= 1
    grants_after = 10_000 - 100
    wakeups = clock.fired - fired_before
    assert wakeups <= grants_after / 100 + 1  # one timer firing frees a whole batch here
    await asyncio.gather(*tasks)


async def test_pause_on_429_holds_every_request_of_the_key(clock: FakeClock) -> None:
    """After a 429 no request of that key is granted until the pause ends; others go on."""
    sched = _scheduler(clock, RateLimits((Window("w", 100, 1.0),)))
    paused = sched.rate_limited("k", {"w": 3.0}, fallback=1.0)
    assert paused > 3.0
    task = asyncio.create_task(sched.acquire("k"))
    other = await sched.acquire("other")  # another key is unaffected
    other.received()
    await settle()
    assert not task.done()
    clock.advance(2.9)
    await settle()
    assert not task.done()
    clock.advance(0.2)
    await settle()
    assert task.done()
    assert sched.statistics("k").rate_limited == 1


async def test_idle_keys_are_evicted(clock: FakeClock) -> None:
    """Thousands of keys do not grow memory: idle ones are forgotten."""
    sched = _scheduler(clock, RateLimits((Window("w", 5, 1.0),)))
    for i in range(3000):
        (await sched.acquire(f"key{i}")).received()
        clock.advance(0.01)
    clock.advance(2.0)
    await sched.acquire("fresh")
    assert sched.tracked_keys < 200


async def test_idle_keys_are_evicted_by_requests_of_any_key(clock: FakeClock) -> None:
    """No new key is needed: requests of one busy key evict idle ones, never a key that holds a slot."""
    sched = _scheduler(clock, RateLimits((Window("w", 5, 1.0),)), cold_start=False)
    for i in range(1000):
        (await sched.acquire(f"key{i}")).received()
    in_flight = await sched.acquire("in-flight")  # holds its slot: never evicted
    clock.advance(5.0)
    for _ in range(40):  # 1,000 idle keys, at most 32 per request
        (await sched.acquire("busy")).received()
        clock.advance(0.5)
    assert sched.tracked_keys == 2
    assert sched.statistics("in-flight").in_flight == 1
    in_flight.received()
    clock.advance(5.0)
    (await sched.acquire("busy")).received()
    assert sched.tracked_keys == 1


async def test_statistics_and_repr_show_live_state(clock: FakeClock) -> None:
    """The snapshot is frozen and the repr names keys, held slots and queue length."""
    sched = _scheduler(clock)
    permit = await sched.acquire("k")
    stats = sched.statistics("k")
    assert stats.in_flight == 1 and stats.next_grant_in == float("inf")
    with pytest.raises(AttributeError):
        stats.granted = 5  # type: ignore[misc]
    assert "k: held={'w': 1}" in repr(sched)
    permit.received()


# -- issue 11: cold start, learning, 429 handling, deadlines, shutdown --------------------

THREE = RateLimits((Window("short", 5, 1.0), Window("long", 20, 10.0)))


def _headers(short_remaining: int, long_remaining: int = 19) -> dict[str, str]:
    return {
        "X-RateLimit-Limit-short": "5",
        "X-RateLimit-Remaining-short": str(short_remaining),
        "X-RateLimit-Limit-long": "20",
        "X-RateLimit-Remaining-long": str(long_remaining),
    }


async def test_cold_start_is_single_flight_until_headers_arrive(clock: FakeClock) -> None:
    """A new key sends one request at a time; its headers' foreign hits become phantoms, and after
    two answers it opens.  (Hits in the short window are the next test's case: someone may be
    using the key right now.)"""
    sched = _scheduler(clock, THREE)
    first = await sched.acquire("k")
    second = asyncio.create_task(sched.acquire("k"))
    await settle()
    assert not second.done()  # single flight: the window may still hold an earlier process's hits
    first.received(_headers(short_remaining=4, long_remaining=15))  # 4 foreign, older than the short window
    await settle()
    assert second.done()
    stats = sched.statistics("k")
    assert stats.phantom_hits == 4 and stats.held["long"] == 6  # 4 phantoms + 1 settled + 1 in flight
    third = asyncio.create_task(sched.acquire("k"))
    await settle()
    assert not third.done()  # still one at a time: the second answer has not come
    second.result().received(_headers(short_remaining=3, long_remaining=14))
    await settle()
    assert third.done()
    fourth = await asyncio.wait_for(sched.acquire("k"), 0.1)  # open: more than one in flight
    assert sched.statistics("k").in_flight == 2
    for permit in (third.result(), fourth):
        permit.failed(sent=False)


async def test_cold_key_beside_live_traffic_watches_one_short_window(clock: FakeClock) -> None:
    """A cold key whose first answer shows someone else's hits in the short window stays single
    flight, paced, for one short window; hits that arrive meanwhile are live traffic and keep room."""
    sched = _scheduler(clock, RateLimits((Window("short", 20, 3.0), Window("long", 50, 10.0))))

    def counted(short: int, long: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit-short": "20",
            "X-RateLimit-Remaining-short": str(20 - short),
            "X-RateLimit-Limit-long": "50",
            "X-RateLimit-Remaining-long": str(50 - long),
        }

    (await sched.acquire("k")).received(counted(2, 2))  # ours and 1 foreign hit, just now
    for ours in (2, 3, 4):  # one more foreign hit between answers
        clock.advance(0.25)
        permit = await asyncio.wait_for(sched.acquire("k"), 1)
        blocked = asyncio.create_task(sched.acquire("k"))
        await settle()
        assert not blocked.done()  # still one at a time, although the windows have room
        permit.received(counted(2 * ours, 2 * ours))
        await settle()
        assert not blocked.done()  # paced: one grant per slot of the binding window (10 s / 50)
        clock.advance(0.25)
        await settle()
        assert blocked.done()
        blocked.result().failed(sent=False)
    assert sched._state("k").view._notes  # the hits seen while watching are live traffic
    clock.advance(2.0)  # a short window after the first answer: the next answer opens the key
    (await asyncio.wait_for(sched.acquire("k"), 1)).received(counted(9, 9))
    permits = [await asyncio.wait_for(sched.acquire("k"), 0.1) for _ in range(2)]
    assert sched.statistics("k").in_flight == 2
    for p in permits:
        p.failed(sent=False)


async def test_cold_start_headerless_server_ramps_conservatively(clock: FakeClock) -> None:
    """Without rate-limit headers a key stays single flight for COLD_RAMP responses, then opens."""
    from salescaling_async._scheduler import COLD_RAMP

    sched = _scheduler(clock, THREE)
    permit = await sched.acquire("k")
    for _ in range(COLD_RAMP):
        blocked = asyncio.create_task(sched.acquire("k"))
        await settle()
        assert not blocked.done()
        permit.received({})
        await settle()
        assert blocked.done()
        permit = blocked.result()
    clock.advance(1.01)  # the short window (5) forgets the ramp's responses
    permits = [await asyncio.wait_for(sched.acquire("k"), 0.1) for _ in range(2)]  # open: no waiting
    assert sched.statistics("k").in_flight == 3
    for p in [permit, *permits]:
        p.received({})


async def test_cold_again_after_the_key_was_idle(clock: FakeClock) -> None:
    """After the longest window passes without headers, the key probes with one request again."""
    sched = _scheduler(clock, THREE)
    (await sched.acquire("k")).received(_headers(4))
    (await sched.acquire("k")).received(_headers(3))  # the second answer opens the key
    clock.advance(1.01)
    a, b = await sched.acquire("k"), await sched.acquire("k")  # warm: two in flight at once
    a.received(_headers(3)), b.received(_headers(2))
    clock.advance(11.0)
    await sched.acquire("k")
    blocked = asyncio.create_task(sched.acquire("k"))
    await settle()
    assert not blocked.done()
    blocked.cancel()


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-5", "Infinity"])
async def test_absurd_header_values_are_ignored_and_the_queue_moves(clock: FakeClock, value: str) -> None:
    """A Limit/Remaining of inf, 1e400 or NaN never raises after settling and never stalls the queue."""
    sched = _scheduler(clock, THREE, cold_start=False)
    first = await sched.acquire("k")
    first.received({"X-RateLimit-Limit-short": value, "X-RateLimit-Remaining-short": value})
    stats = sched.statistics("k")
    assert stats.limits == {"short": 5, "long": 20} and stats.phantom_hits == 0
    assert (await asyncio.wait_for(sched.acquire("k"), 0.1)) is not None


async def test_interactive_deadline_ignores_the_bulk_backlog(clock: FakeClock) -> None:
    """An interactive request overtakes queued bulk work, so the backlog cannot fail its deadline."""
    sched = _scheduler(clock, RateLimits((Window("w", 1, 1.0),)), cold_start=False)
    first = await sched.acquire("k")
    bulk = [asyncio.create_task(sched.acquire("k", priority=Priority.BULK)) for _ in range(50)]
    await settle()
    first.received()
    urgent = asyncio.create_task(sched.acquire("k", deadline=clock.now() + 1.5))
    await settle()
    assert not urgent.done()  # not refused: it is next in line, ~1 s away
    clock.advance(1.01)
    await settle()
    assert urgent.done() and urgent.exception() is None
    with pytest.raises(DeadlineExceededError):  # a bulk request behind 50 bulk ones is refused at once
        await sched.acquire("k", priority=Priority.BULK, deadline=clock.now() + 5)
    for task in bulk:
        task.cancel()


async def test_earliest_is_a_lower_bound_per_lane(clock: FakeClock) -> None:
    """The fail-fast estimate never exceeds the real wait of the request it refuses."""
    sched = _scheduler(clock, RateLimits((Window("w", 2, 1.0),)), cold_start=False)
    for _ in range(2):
        (await sched.acquire("k")).received()
    queued = [asyncio.create_task(sched.acquire("k", priority=Priority.BULK)) for _ in range(4)]
    await settle()
    stats = sched.statistics("k")
    assert stats.queued == {"interactive": 0, "bulk": 4}
    task = asyncio.create_task(sched.acquire("k", deadline=clock.now() + 1.1))
    await settle()
    clock.advance(1.01)
    await settle()
    assert task.done() and task.exception() is None  # granted at ~1.0 s: the estimate let it wait
    for t in queued:
        t.cancel()


async def test_hintless_429s_back_off_exponentially_with_jitter(clock: FakeClock) -> None:
    """429s without a hint pause 1 s, ~2 s, ~4 s (jittered), never below the shortest window."""
    from salescaling_async import RetryConfig

    sched = _scheduler(clock, THREE, cold_start=False, seed=1)
    retry = RetryConfig(wait_initial=0.0)  # would resend every few ms before
    pauses = []
    for _ in range(4):
        permit = await drive_acquire(clock, sched)
        pauses.append(permit.rate_limited({}, {}, retry))
    assert pauses[0] >= 1.0
    assert all(later > earlier for earlier, later in itertools.pairwise(pauses))
    assert 4.0 <= pauses[2] <= 6.1 and 8.0 <= pauses[3] <= 12.1
    second = _scheduler(clock, THREE, cold_start=False, seed=2)
    other = [(await drive_acquire(clock, second)).rate_limited({}, {}, retry) for _ in range(3)]
    assert other != pauses[:3]  # jittered
    permit = await drive_acquire(clock, sched)
    permit.received()  # a success resets the streak
    assert (await drive_acquire(clock, sched)).rate_limited({}, {}, retry) < 1.6


async def drive_acquire(clock: FakeClock, sched: Scheduler) -> Permit:
    task = asyncio.create_task(sched.acquire("k"))
    while not task.done():
        await settle()
        if not task.done():
            due = clock.next_due()
            assert due is not None
            clock.advance(max(0.0, due - clock.now()))
    return task.result()


async def test_429_pauses_before_anything_else_is_dispatched(clock: FakeClock) -> None:
    """The 429's own settle must not grant the waiter queued behind it before the pause applies."""
    sched = _scheduler(clock, THREE)
    probe = await sched.acquire("k")  # cold: single flight
    waiter = asyncio.create_task(sched.acquire("k"))
    await settle()
    pause = probe.rate_limited({"X-RateLimit-Limit-short": "5", "X-RateLimit-Remaining-short": "0"}, {"short": 1.0})
    await settle()
    assert not waiter.done()
    clock.advance(pause + 0.01)
    await settle()
    assert waiter.done()


async def test_a_plain_or_unknown_hint_pauses_for_its_full_length(clock: FakeClock) -> None:
    """A plain Retry-After, an unknown window name or a block longer than the window pauses fully."""
    sched = _scheduler(clock, THREE, cold_start=False)
    permit = await sched.acquire("k")
    assert permit.rate_limited({}, {None: 2.0, "mystery": 30.0, "short": 7.0}) >= 30.0


async def test_learned_limits_expire_and_do_not_block_eviction(clock: FakeClock) -> None:
    """One smaller Limit header (a route override) throttles the key only while headers confirm it."""
    sched = _scheduler(clock, THREE, cold_start=False)
    (await sched.acquire("k")).received({"X-RateLimit-Limit-short": "2", "X-RateLimit-Remaining-short": "1"})
    assert sched.statistics("k").limits["short"] == 2
    clock.advance(10.1)
    assert sched.statistics("k").limits["short"] == 5  # no header confirmed it for the longest window
    (await sched.acquire("k")).received({"X-RateLimit-Limit-short": "2", "X-RateLimit-Remaining-short": "1"})
    clock.advance(10.5)  # the slot expired; the learned limit lapsed
    sched._sweep()
    assert sched.tracked_keys == 0  # a learned limit no longer pins the key in memory


async def test_aclose_fails_every_queued_waiter_at_once(clock: FakeClock) -> None:
    """Closing fails queued waiters with ClientClosedError, holds no slot for them, refuses new ones."""
    from salescaling_async import ClientClosedError

    sched = _scheduler(clock, RateLimits((Window("w", 1, 1.0),)), cold_start=False)
    first = await sched.acquire("k")
    waiters = [asyncio.create_task(sched.acquire("k", priority=p)) for p in (Priority.BULK, Priority.INTERACTIVE) * 5]
    await settle()
    await sched.aclose()
    await settle()
    assert all(isinstance(t.exception(), ClientClosedError) for t in waiters)
    stats = sched.statistics("k")
    assert stats.in_flight == 1 and stats.queued == {"interactive": 0, "bulk": 0} and clock.pending == 0
    with pytest.raises(ClientClosedError):
        await sched.acquire("k")
    first.received()  # a permit granted before the close still settles quietly


async def test_max_queue_refuses_overflow_at_once(clock: FakeClock) -> None:
    """With max_queue=N the N+1-th waiter gets QueueFullError (a DeadlineExceededError) at once."""
    from salescaling_async import QueueFullError

    sched = _scheduler(clock, RateLimits((Window("w", 1, 1.0),)), cold_start=False, max_queue=3)
    first = await sched.acquire("k")
    queued = [asyncio.create_task(sched.acquire("k")) for _ in range(3)]
    await settle()
    with pytest.raises(QueueFullError) as info:
        await sched.acquire("k")
    assert isinstance(info.value, DeadlineExceededError)
    first.received()
    clock.advance(1.01)
    await settle()
    assert sum(t.done() for t in queued) == 1
    for t in queued:
        t.cancel()


# -- issue 17: the interactive reserve ----------------------------------------------------


async def test_bulk_never_takes_the_interactive_reserve_while_interactive_traffic_comes(clock: FakeClock) -> None:
    """With a 10 % reserve, bulk fills 18 of 20 slots; the next interactive request is granted at once."""
    sched = _scheduler(
        clock, RateLimits((Window("w", 20, 1.0),)), cold_start=False, interactive_reserve=0.1, bulk_pacing=False
    )
    (await sched.acquire("k")).received()  # interactive traffic exists
    bulk = [asyncio.create_task(sched.acquire("k", priority=Priority.BULK)) for _ in range(30)]
    await settle()
    assert sum(t.done() for t in bulk) == 17  # 20 - 1 interactive - 2 kept
    clock.advance(0.5)  # within reserve_idle: still held back
    await settle()
    assert sum(t.done() for t in bulk) == 17
    urgent = await asyncio.wait_for(sched.acquire("k"), 0.1)  # a slot at once, no waiting
    urgent.received()
    stats = sched.statistics("k")
    assert stats.granted_by_lane == {"interactive": 2, "bulk": 17}
    for task in bulk:
        task.cancel()


async def test_bulk_gets_the_reserve_back_when_no_interactive_request_comes(clock: FakeClock) -> None:
    """After reserve_idle seconds without interactive requests the reserve is lent to bulk."""
    sched = _scheduler(
        clock,
        RateLimits((Window("w", 20, 1.0),)),
        cold_start=False,
        interactive_reserve=0.1,
        reserve_idle=0.3,
        bulk_pacing=False,
    )
    (await sched.acquire("k")).received()
    bulk = [asyncio.create_task(sched.acquire("k", priority=Priority.BULK)) for _ in range(25)]
    await settle()
    assert sum(t.done() for t in bulk) == 17
    clock.advance(0.31)  # the key's one timer fires when the reserve is lent
    await settle()
    assert sum(t.done() for t in bulk) == 19  # the whole window, the reserve included
    only_bulk = _scheduler(
        clock, RateLimits((Window("w", 20, 1.0),)), cold_start=False, interactive_reserve=0.1, bulk_pacing=False
    )
    granted = [await asyncio.wait_for(only_bulk.acquire("b", priority=Priority.BULK), 0.1) for _ in range(20)]
    assert len(granted) == 20  # never an interactive request: bulk never loses anything
    for task in bulk:
        task.cancel()


async def _saturate(clock: FakeClock, sched: Scheduler, seconds: float) -> tuple[list[float], int]:
    """The benchmark's load on the fake clock: 30 bulk tasks saturate the key (2 ms responses)
    and one interactive request is made every 0.2 s from the 2nd second on.  Returns the
    interactive waits and the bulk grants."""
    end = clock.now() + seconds

    def sleep(seconds: float) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        clock.call_at(clock.now() + seconds, lambda: future.done() or future.set_result(None))
        return future

    waits: list[float] = []
    bulk_done = 0

    async def bulk() -> None:
        nonlocal bulk_done
        while clock.now() < end:
            permit = await sched.acquire("k", priority=Priority.BULK)
            await sleep(0.002)
            permit.received()
            bulk_done += 1

    async def interactive() -> None:
        await sleep(2.0)
        while clock.now() < end:
            asked = clock.now()
            permit = await sched.acquire("k")
            waits.append(clock.now() - asked)
            await sleep(0.002)
            permit.received()
            await sleep(0.2)

    tasks = [asyncio.create_task(bulk()) for _ in range(30)] + [asyncio.create_task(interactive())]
    # virtual time: run every task until all wait for a timer, then jump to the next timer
    await settle(20)
    while clock.now() < end and (due := clock.next_due()) is not None:
        clock.advance(max(0.0, due - clock.now()))
        await settle(20)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return waits, bulk_done


async def test_interactive_finds_a_slot_at_once_under_a_saturating_bulk_job(clock: FakeClock) -> None:
    """Regression (issue 17): with the 5 % reserve and a bursting bulk job an interactive
    request every 0.2 s waited for the next burst: ~0.6 s while the short window bound (its
    reserve is 1 slot, refilled only when the window's burst freed), then seconds once the
    long window filled 10 s before its first slot expired.  Paced bulk (the default) keeps
    the key's traffic at the binding window's rate: slots free one by one, no window fills
    ahead of its expiries, and every interactive request is granted at once."""
    sched = _scheduler(clock, RateLimits(), cold_start=False)  # defaults: 5 % reserve, paced bulk
    waits, bulk_done = await _saturate(clock, sched, 70.0)
    assert len(waits) >= 300
    assert max(waits) <= 0.025  # no wait for a burst
    assert bulk_done + len(waits) >= 0.85 * RateLimits().ceiling(70.0)  # bulk gets the rest
    assert sched.statistics("k").rate_limited == 0
    bursting = _scheduler(FakeClock(), RateLimits(), cold_start=False, bulk_pacing=False)
    waits, _ = await _saturate(bursting.clock, bursting, 70.0)  # type: ignore[arg-type]
    assert max(waits) > 0.5  # what pacing fixes
