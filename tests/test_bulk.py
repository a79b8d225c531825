"""``create_many`` and ``reconcile``: per-item outcomes, bounded memory, cancellation, faults."""

from __future__ import annotations

import asyncio
import functools
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from salescaling_async import (
    AsyncSalescaling,
    BulkProgress,
    BulkResult,
    ConfigError,
    Priority,
    RateLimits,
    Salescaling,
    ThrottleWait,
)
from salescaling_async._bulk import outcome_of
from salescaling_async._errors import (
    BadRequestError,
    ConnectError,
    ReadError,
    ResponseValidationError,
    ScopeError,
    ServerError,
)
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.models import ContactCreate, OpportunityCreate
from salescaling_async.testing import FakeTransport, Fault, Simulator, json_response, no_retries
from salescaling_async.testing._threaded import simulator_in_thread

SCALE = 100.0


def _contact(i: int) -> ContactCreate:
    return ContactCreate(first_name=f"F{i}", last_name="Bulk", extra={"email": f"bulk.{i}@example.test"})


def _client(sim: Simulator, **kwargs: Any) -> AsyncSalescaling:
    limits = RateLimits().scaled(sim.time_scale if sim.limits is not None else 1000)
    return AsyncSalescaling(sim.api_key, base_url=sim.url, limits=limits, **kwargs)


async def _collect(run: Any) -> list[BulkResult[Any, Any]]:
    return [r async for r in run]


# -- classification ------------------------------------------------------------------------------


def _status(cls: type[Any], code: int) -> Any:
    return cls("x", status_code=code, method="POST", url="u")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        pytest.param(_status(BadRequestError, 400), "error", id="400"),
        pytest.param(_status(BadRequestError, 422), "error", id="422"),
        pytest.param(_status(ServerError, 500), "ambiguous", id="500"),
        pytest.param(_status(ServerError, 503), "ambiguous", id="503"),
        pytest.param(ConnectError("x", method="POST", url="u"), "error", id="connect"),
        pytest.param(ReadError("x", method="POST", url="u", sent=True), "ambiguous", id="read-sent"),
        pytest.param(ReadError("x", method="POST", url="u", sent=False), "error", id="read-unsent"),
        pytest.param(ResponseValidationError("x", raw=""), "ambiguous", id="unreadable-answer"),
        pytest.param(ScopeError("contacts:write", "contacts.create"), "error", id="scope"),
        pytest.param(asyncio.CancelledError(), "ambiguous", id="cancelled"),
        pytest.param(RuntimeError("boom"), "ambiguous", id="unexpected"),
    ],
)
def test_outcome_of(exc: BaseException, status: str) -> None:
    """``error`` only when the failure proves the write was not applied."""
    assert outcome_of(exc) == status


# -- the fault-injected end-to-end check ------------------------------------------------------------

FAULTS = (
    Fault("status", probability=0.05, methods={"POST"}, status=500),  # before the write
    Fault("status_after", probability=0.03, methods={"POST"}, status=503),  # after the write
    Fault("reset_before", probability=0.03, methods={"POST"}),
    Fault("reset_after", probability=0.03, methods={"POST"}),
)


@pytest.fixture(name="scaled_ambiguity")
def _scaled_ambiguity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the time an ambiguous outcome holds its slot (5 s) by ``SCALE``, as the windows are.

    Unscaled, the ~60 resets of the fault test below each held a slot of the 10 ms window for
    5 s, and the run idled 14 of its 16 s.  What the test checks does not depend on it: the
    simulator counts a request when it arrives, before any reset, so any hold keeps the key
    within its windows.  (If the scheduler stops building its budgets here, the patch does
    nothing and the test is only slower again.)
    """
    from salescaling_async import _budget, _scheduler

    default = _budget.KeyBudget(RateLimits()).ambiguity_horizon
    monkeypatch.setattr(
        _scheduler, "KeyBudget", functools.partial(_budget.KeyBudget, ambiguity_horizon=default / SCALE)
    )


@pytest.mark.usefixtures("scaled_ambiguity")
async def test_thousand_creates_with_faults_each_created_exactly_once() -> None:
    """1,000 creates through 5xx answers and resets before and after the write: after
    create_many + reconcile every item exists exactly once on the server."""
    async with Simulator(records={"contacts": 0}, time_scale=SCALE, faults=FAULTS, seed=7) as sim:
        async with _client(sim) as client:
            first = await _collect(client.contacts.create_many(_contact(i) for i in range(1000)))
            assert sorted(r.index for r in first) == list(range(1000))
            counts = Counter(r.status for r in first)
            assert counts["ambiguous"] > 0 and counts["error"] == 0, counts
            results = first
            for _ in range(10):  # a resend can be ambiguous again (~14 % each time): settle until none is
                results = await _collect(client.contacts.reconcile(results, match="email"))
                if all(r.status == "created" for r in results):
                    break
        assert sorted(r.index for r in results) == list(range(1000))
        assert all(r.status == "created" for r in results)
        assert {r.record.email for r in results if r.record} == {f"bulk.{i}@example.test" for i in range(1000)}
        on_server = Counter(c["email"] for c in sim.store.data["contacts"])
        assert len(on_server) == 1000 and set(on_server.values()) == {1}
        faults = sim.stats().faults
        assert faults["status_after"] and faults["reset_after"] and faults["reset_before"] and faults["status"]
        assert sim.stats().rejected == 0


async def test_bulk_lane_at_the_ceiling_without_429s() -> None:
    """A bulk run goes through the scheduler in the BULK lane: throttled, never over the limit."""
    events: list[Any] = []
    async with Simulator(records={"opportunities": 0}, time_scale=20) as sim:
        async with _client(sim, on_event=events.append) as client:
            items = (OpportunityCreate(name=f"Deal {i}") for i in range(300))
            results = await _collect(client.opportunities.create_many(items, concurrency=16))
        assert Counter(r.status for r in results) == {"created": 300}
        assert sim.stats().rejected == 0 and len(sim.store.data["opportunities"]) == 300
        waits = [e for e in events if isinstance(e, ThrottleWait)]
        assert waits and {e.priority for e in waits} == {Priority.BULK}


# -- the engine over a fake transport ---------------------------------------------------------------


class Gate:
    """A fake server that holds every create until released and counts arrivals."""

    def __init__(self, fail: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.arrived = 0
        self.release = asyncio.Event()
        self.fail = fail
        self.open = True

    async def __call__(self, request: RawRequest) -> RawResponse:
        if request.method == "GET":
            return json_response([])
        self.arrived += 1
        body = request.json
        if not self.open:
            await self.release.wait()
        n = int(body["firstName"][1:])
        if n in self.fail:
            return json_response(None, status=400)
        return json_response({"id": f"id-{n}", **body}, status=201)


def _fake_client(gate: Gate) -> AsyncSalescaling:
    return AsyncSalescaling(
        "sk_test",
        base_url="http://127.0.0.1:1/api/v1/",
        transport=FakeTransport(gate),
        limits=RateLimits().scaled(10_000),
    )


async def _wait_until(predicate: Any) -> None:
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def test_cancelling_the_consumer_reports_in_flight_items_ambiguous() -> None:
    """Cancelling the consuming task cancels the requests in flight and reports each of them
    ``ambiguous`` in ``unreported`` and to ``on_progress``; no item taken is dropped."""
    gate = Gate()
    taken: list[int] = []
    progress: list[BulkProgress] = []

    def items() -> Iterator[ContactCreate]:
        for i in range(100):
            taken.append(i)
            yield _contact(i)

    async with _fake_client(gate) as client:
        gate.open = True
        run = client.contacts.create_many(items(), concurrency=4, on_progress=progress.append)
        yielded: list[BulkResult[Any, Any]] = []

        async def consume() -> None:
            async for result in run:
                yielded.append(result)
                if len(yielded) == 3:
                    gate.open = False  # from now on the server holds every request

        task = asyncio.create_task(consume())
        await _wait_until(lambda: gate.arrived >= 3 + 4 or task.done())
        await _wait_until(lambda: len(run._running) == 4 and gate.arrived >= len(taken))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert all(r.status == "created" for r in yielded)
    assert [r.status for r in run.unreported] == ["ambiguous"] * len(run.unreported)
    assert all(isinstance(r.error, asyncio.CancelledError) for r in run.unreported)
    reported = {r.index for r in yielded} | {r.index for r in run.unreported}
    assert reported == set(taken), "every item taken from the input is accounted for"
    assert len(taken) < 100, "the input was consumed lazily"
    assert {p.last.index for p in progress} >= {r.index for r in run.unreported}
    assert progress[-1].ambiguous == len(run.unreported)


async def test_aclose_when_leaving_early_cancels_in_flight() -> None:
    """``async with run`` + ``break`` cancels what is in flight and keeps it in ``unreported``."""
    gate = Gate()
    async with _fake_client(gate) as client:
        async with client.contacts.create_many((_contact(i) for i in range(50)), concurrency=5) as run:
            async for result in run:
                assert result.status == "created"
                gate.open = False
                break
        assert run.unreported and {r.status for r in run.unreported} <= {"ambiguous", "created"}
        assert 1 + len(run.unreported) <= 1 + 5 * 3
        assert [r async for r in run] == []


async def test_input_is_consumed_lazily_with_bounded_buffering() -> None:
    """Items are taken only when there is room: never more than concurrency + buffer ahead."""
    gate = Gate()
    taken = 0

    def items() -> Iterator[ContactCreate]:
        nonlocal taken
        for i in range(10_000):
            taken += 1
            yield _contact(i)

    async with _fake_client(gate) as client:
        seen = 0
        async for _ in client.contacts.create_many(items(), concurrency=8):
            seen += 1
            assert taken - seen <= 8 * 2 + 1
            if seen == 500:
                break


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
async def test_async_source_and_order(ordered: bool) -> None:
    """An async iterable works; ``ordered=True`` yields in input order; errors are ``error``."""
    gate = Gate(fail={3, 17})

    async def items() -> AsyncIterator[ContactCreate]:
        for i in range(40):
            await asyncio.sleep(0)
            yield _contact(i)

    async with _fake_client(gate) as client:
        results = await _collect(client.contacts.create_many(items(), concurrency=6, ordered=ordered))
    assert sorted(r.index for r in results) == list(range(40))
    if ordered:
        assert [r.index for r in results] == list(range(40))
    assert {r.index for r in results if r.status == "error"} == {3, 17}
    assert all(isinstance(r.error, BadRequestError) for r in results if r.status == "error")
    assert all(r.record is not None and r.record.id == f"id-{r.index}" for r in results if r.status == "created")


async def test_failing_source_drains_then_raises() -> None:
    """An input that raises stops the intake; running items are still yielded, then it raises."""
    gate = Gate()

    def items() -> Iterator[ContactCreate]:
        yield from (_contact(i) for i in range(5))
        raise KeyError("bad input")

    async with _fake_client(gate) as client:
        got: list[int] = []

        async def consume() -> None:
            async for result in client.contacts.create_many(items()):
                got.append(result.index)

        with pytest.raises(KeyError):
            await consume()
        assert sorted(got) == list(range(5))


async def test_bad_arguments_fail_before_sending() -> None:
    """Bad concurrency, a non-iterable or an unsupported match field are ConfigErrors up front."""
    gate = Gate()
    async with _fake_client(gate) as client:
        with pytest.raises(ConfigError):
            client.contacts.create_many([], concurrency=0)
        with pytest.raises(ConfigError):
            client.contacts.create_many(42)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="fields with a list filter: email"):
            client.contacts.reconcile([], match="phone")
        with pytest.raises(ConfigError, match="none"):
            client.companies.reconcile([], match="name")
    assert gate.arrived == 0


async def test_unreachable_server_is_error_not_ambiguous() -> None:
    """A refused connection proves nothing was sent: ``error``."""
    async with AsyncSalescaling("sk_test", base_url="http://127.0.0.1:9/api/v1/", retry=no_retries()) as client:
        results = await _collect(client.contacts.create_many([_contact(1), _contact(2)]))
    assert [r.status for r in results] == ["error", "error"]
    assert all(isinstance(r.error, ConnectError) for r in results)


# -- reconcile ------------------------------------------------------------------------------------------


async def test_reconcile_exact_match_lookalikes_and_duplicates() -> None:
    """Found once: created (no resend); a look-alike ("Deal 1" vs "Deal 10") is not a match, so
    the missing one is resent once; two exact matches: ambiguous with both candidates."""
    async with Simulator(records={"opportunities": 0}, limits=None) as sim:
        async with _client(sim) as client:
            for name in ("Deal 10", "Deal 2", "Dup", "Dup"):
                await client.opportunities.create(OpportunityCreate(name=name))
            entries: list[Any] = [
                BulkResult(0, "ambiguous", OpportunityCreate(name="Deal 1")),
                BulkResult(1, "ambiguous", OpportunityCreate(name="Deal 2")),
                BulkResult(2, "ambiguous", OpportunityCreate(name="Dup")),
                BulkResult(3, "error", OpportunityCreate(name="Never")),
                OpportunityCreate(name="Fresh"),  # a plain item: "make sure it exists"
            ]
            results = {r.index: r for r in await _collect(client.opportunities.reconcile(entries, match="name"))}
        assert results[0].status == "created" and results[0].record.name == "Deal 1"
        assert results[1].status == "created" and results[1].record.name == "Deal 2"
        assert results[2].status == "ambiguous" and len(results[2].candidates) == 2
        assert results[3].status == "error"
        assert results[4].status == "created"
        names = Counter(o["name"] for o in sim.store.data["opportunities"])
        assert names == {"Deal 10": 1, "Deal 2": 1, "Dup": 2, "Deal 1": 1, "Fresh": 1}


async def test_reconcile_lookup_failure_stays_ambiguous() -> None:
    """When the lookup itself fails the item stays ``ambiguous`` and nothing is resent."""
    async with Simulator(
        records={"contacts": 0}, limits=None, faults=[Fault("status", probability=1.0, methods={"GET"}, status=500)]
    ) as sim:
        async with _client(sim, retry=no_retries()) as client:
            results = await _collect(client.contacts.reconcile([_contact(1)], match="email"))
        assert results[0].status == "ambiguous" and isinstance(results[0].error, ServerError)
        assert sim.store.data["contacts"] == []


# -- the blocking client ---------------------------------------------------------------------------------


def test_blocking_create_many_is_a_plain_iterator() -> None:
    """``Salescaling.<resource>.create_many`` and ``reconcile`` are plain iterators."""
    sim = Simulator(records={"contacts": 0}, limits=None, faults=[Fault("reset_after", on={2}, methods={"POST"})])
    with (
        simulator_in_thread(sim),
        Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(1000)) as client,
    ):
        results = list(client.contacts.create_many([_contact(i) for i in range(5)], ordered=True))
        assert [r.index for r in results] == list(range(5))
        assert [r.status for r in results].count("ambiguous") == 1
        settled = list(client.contacts.reconcile(results, match="email"))
        assert {r.status for r in settled} == {"created"}
        with pytest.raises(ConfigError):  # bad arguments raise at the call, as in async code
            client.contacts.create_many([], concurrency=0)
    assert sorted(json.dumps(c["email"]) for c in sim.store.data["contacts"]) == sorted(
        json.dumps(f"bulk.{i}@example.test") for i in range(5)
    )


def test_blocking_interrupted_step_reports_in_flight_items() -> None:
    """A blocking step cut short (here by ``call_timeout``; Ctrl-C takes the same path) cancels
    the items in flight on the loop and lists them in ``unreported``."""
    gate = Gate()
    gate.open = False
    client = Salescaling(
        "sk_test",
        base_url="http://127.0.0.1:1/api/v1/",
        transport=FakeTransport(gate),
        limits=RateLimits().scaled(10_000),
        call_timeout=0.2,
    )
    with client:
        run = client.contacts.create_many([_contact(i) for i in range(10)], concurrency=3)
        with pytest.raises(TimeoutError):
            next(run)
        assert [r.index for r in run.unreported] == [0, 1, 2]
        assert {r.status for r in run.unreported} == {"ambiguous"}


async def test_cancelled_in_the_loop_body_async_with_settles_in_flight() -> None:
    """A cancellation landing in the loop body (not in the iterator) is settled by ``async with``."""
    gate = Gate()
    body_waits = asyncio.Event()
    async with _fake_client(gate) as client:
        run = client.contacts.create_many((_contact(i) for i in range(30)), concurrency=4)

        async def consume() -> None:
            async with run:
                async for _ in run:
                    gate.open = False
                    body_waits.set()
                    await asyncio.Event().wait()  # busy with something else when cancelled

        task = asyncio.create_task(consume())
        await body_waits.wait()
        await _wait_until(lambda: gate.arrived >= 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert run.unreported and all(r.status in ("ambiguous", "created") for r in run.unreported)
    assert any(isinstance(r.error, asyncio.CancelledError) for r in run.unreported)
