"""The blocking client: same behaviour as the async one, shared budget, portal safety."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import signal
import socket
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from salescaling_async import (
    AsyncSalescaling,
    AuthenticationError,
    ClientClosedError,
    ConfigError,
    DeadlineExceededError,
    NotFoundError,
    PoolLimits,
    RateLimits,
    RetryConfig,
    Salescaling,
    SalescalingError,
    ScopeError,
    SyncInAsyncContextWarning,
    Window,
    run_sync,
)
from salescaling_async._pagination import AsyncPaginator
from salescaling_async.models import OpportunityCreate
from salescaling_async.sync import SyncPaginator
from salescaling_async.testing import Fault, SimKey, Simulator, simulator_in_thread

SCALE = 10.0
FAST_RETRY = RetryConfig(wait_initial=0.01, wait_max=0.02)


@pytest.fixture(name="sim")
def _sim() -> Iterator[Simulator]:
    faults = [Fault("status", on={1, 2}, status=503, methods={"PUT"})]
    with simulator_in_thread(Simulator(records=30, time_scale=SCALE, faults=faults)) as sim:
        yield sim


Api = Callable[..., Any]


@pytest.fixture(name="api", params=["async", "sync"])
def _api(request: pytest.FixtureRequest, sim: Simulator) -> Api:
    """Run ``fn(client)`` with an async or a blocking client; paginators are drained to lists."""

    def run(fn: Callable[[Any], Any], **client_kwargs: Any) -> Any:
        kwargs = {"base_url": sim.url, "limits": RateLimits().scaled(SCALE), "retry": FAST_RETRY, **client_kwargs}
        key = kwargs.pop("api_key", sim.api_key)
        if request.param == "sync":
            with Salescaling(key, **kwargs) as client:
                result = fn(client)
                return list(result) if isinstance(result, SyncPaginator) else result

        async def main() -> Any:
            async with AsyncSalescaling(key, **kwargs) as client:
                result = fn(client)
                if isinstance(result, AsyncPaginator):
                    return [item async for item in result]
                return await result

        return asyncio.run(main())

    return run


def test_pagination_and_get(api: Api, sim: Simulator) -> None:
    """Listing pages through every record; get returns one by id."""
    users = api(lambda c: c.users.list(page_size=7))
    assert len(users) == 30
    contact_id = sim.store.data["contacts"][4]["id"]
    assert api(lambda c: c.contacts.get(contact_id)).id == contact_id


def test_create_then_list(api: Api) -> None:
    """Created records come back typed and are listed."""
    created = api(lambda c: c.opportunities.create(OpportunityCreate(name="Blocking deal")))
    assert created.name == "Blocking deal"
    assert "Blocking deal" in {o.name for o in api(lambda c: c.opportunities.list(name="Blocking"))}


def test_errors(api: Api) -> None:
    """Status errors, auth errors and scope errors surface identically."""
    with pytest.raises(NotFoundError):
        api(lambda c: c.contacts.get("missing"))
    with pytest.raises(AuthenticationError):
        api(lambda c: c.users.list(), api_key="unknown-key", retry=RetryConfig(attempts=1))
    with pytest.raises(ScopeError):
        api(lambda c: c.calls.list(), scopes={"users:read"})


def test_retries(api: Api, sim: Simulator) -> None:
    """A PUT answered 503 twice is retried (idempotent) and succeeds on the third attempt."""
    user_id = sim.store.data["users"][0]["id"]
    assert api(lambda c: c.users.update_metadata(user_id, {"tier": "gold"})) == {"tier": "gold"}
    assert sim.stats().faults["status"] == 2  # both 503s were really sent and answered
    assert sim.stats().accepted == 3


def test_sixteen_threads_share_one_budget_and_one_pool(sim: Simulator) -> None:
    """16 threads hammering one blocking client: zero 429s, one connection pool."""
    sim.peers.clear()
    with Salescaling(
        sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE), pool=PoolLimits(max_connections=8)
    ) as client:

        def worker() -> None:
            for _ in range(25):
                client.request("GET", "users", params={"limit": 1})

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.statistics().granted == 400
    assert sim.stats().accepted == 400 and sim.stats().rejected == 0
    # 16 threads, at most 8 TCP connections: every thread went through the one pool
    assert 1 <= len(sim.peers) <= 8


def test_call_inside_running_loop_warns_once_and_strict_raises(sim: Simulator) -> None:
    """From a thread with a running loop the call works and warns once; strict mode raises."""
    with Salescaling(sim.api_key, base_url=sim.url) as client:

        async def inside() -> int:
            with pytest.warns(SyncInAsyncContextWarning):
                first = len(client.users.list(page_size=5).first_page().items)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                client.users.list(page_size=5).first_page()  # no second warning
            return first

        assert asyncio.run(inside()) == 5
    with Salescaling(sim.api_key, base_url=sim.url, strict=True) as strict:

        async def inside_strict() -> None:
            with pytest.raises(SalescalingError, match="event loop"):
                strict.users.list().first_page()

        asyncio.run(inside_strict())


def test_reentry_from_the_portal_thread_raises(sim: Simulator) -> None:
    """A blocking call made from the portal's own loop raises instead of deadlocking."""
    with Salescaling(sim.api_key, base_url=sim.url) as client:

        async def hook() -> None:
            client.users.list().first_page()

        with pytest.raises(SalescalingError, match="deadlock"):
            client.run(hook)


def test_async_def_route_under_a_real_server_works_and_warns(sim: Simulator) -> None:
    """A FastAPI ``async def`` route using the blocking client, served by uvicorn, works and warns."""
    import socket

    import httpx
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    client = Salescaling(sim.api_key, base_url=sim.url)

    @app.get("/n")
    async def route() -> dict[str, Any]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            count = len(client.users.list(page_size=4).first_page().items)
        return {"count": count, "warned": any(issubclass(w.category, SyncInAsyncContextWarning) for w in caught)}

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.02)
        assert httpx.get(f"http://127.0.0.1:{port}/n").json() == {"count": 4, "warned": True}
    finally:
        server.should_exit = True
        thread.join(10)
        client.close()


class _SilentServer:
    """A loopback server that reads requests and never answers; it counts requests and open sockets.

    Waiting on its condition is waiting for a state (a request arrived, a connection closed),
    never for a length of time.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/api/v1/"
        self.changed = threading.Condition()
        self.requests = 0
        self.open = 0
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed
                return
            with self.changed:
                self.open += 1
                self._conns.append(conn)
                self.changed.notify_all()
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buffered = b""
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                buffered += chunk
                while b"\r\n\r\n" in buffered:
                    _, buffered = buffered.split(b"\r\n\r\n", 1)
                    with self.changed:
                        self.requests += 1
                        self.changed.notify_all()
        with self.changed:
            self.open -= 1
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout=60)  # a bound for a broken build only

    def drop(self) -> None:
        """Close every connection from the server's side (the client sees a disconnect)."""
        with self.changed:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._listener.close()
        self.drop()


def _portal_tasks(client: Salescaling) -> int:
    """Tasks on the portal's loop besides the probe itself."""

    async def probe() -> int:
        return len(asyncio.all_tasks()) - 1

    return client.run(probe)


async def _current_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}


def _settled(runner: Callable[..., Any]) -> Callable[[set[asyncio.Task[Any]]], int]:
    """``settle(baseline)``: wait until every task but ``baseline`` on ``runner``'s loop has ended.

    Returns how many have not.  It runs after any cancellation queued before it (a loop runs
    its callbacks in order) and waits for a state; the bound is there for a broken build only.
    """

    async def probe(baseline: set[asyncio.Task[Any]]) -> int:
        others = asyncio.all_tasks() - baseline - {asyncio.current_task()}
        if not others:
            return 0
        _, pending = await asyncio.wait(others, timeout=60)
        return len(pending)

    return lambda baseline: runner(probe, baseline)


def test_timeout_and_interrupt_cancel_the_task() -> None:
    """A sync-side timeout and a Ctrl-C both cancel the in-flight task and close its connection.

    The server never answers, so neither call can end by itself; Ctrl-C is a real SIGINT sent
    to the main thread once the server holds the request (a state), so it interrupts the wait.
    """
    server = _SilentServer()
    try:
        with Salescaling("key", base_url=server.url, call_timeout=0.3, retry=RetryConfig(attempts=1)) as client:
            baseline = client.run(_current_tasks)
            settle = _settled(client.run)
            with pytest.raises(TimeoutError, match="call_timeout"):
                client.request("GET", "contacts")
            assert settle(baseline) == 0
            assert server.wait_for(lambda: server.open == 0)  # the cancelled task dropped its connection

            client.call_timeout = None
            main = threading.main_thread().ident
            assert main is not None
            before = server.requests

            def interrupt_when_held() -> None:
                if server.wait_for(lambda: server.requests > before):
                    signal.pthread_kill(main, signal.SIGINT)

            interrupter = threading.Thread(target=interrupt_when_held)
            interrupter.start()
            with pytest.raises(KeyboardInterrupt):
                client.request("GET", "contacts")
            interrupter.join()
            assert settle(baseline) == 0
            assert server.wait_for(lambda: server.open == 0)
            assert _portal_tasks(client) == len(baseline)
    finally:
        server.close()


_SIGNAL_POINTS = frozenset({"call", "return", "c_return"})


class _InterruptAt:
    """A profile function raising ``KeyboardInterrupt`` at the ``n``-th point a signal can land.

    CPython raises a signal's exception only where it checks for pending signals: entering a
    function and right after a call returns (and on backward jumps).  It interrupts at most
    once, and only while ``armed`` (disarming is a plain store: no point where it could fire).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.armed = True
        self.fired = False

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if self.armed and event in _SIGNAL_POINTS:
            self.seen += 1
            if self.seen == self.n:
                self.armed, self.fired = False, True
                raise KeyboardInterrupt


@pytest.mark.parametrize("blocking_call", ["request", "run_sync"])
def test_an_interrupt_anywhere_in_a_blocking_call_cancels_it(blocking_call: str) -> None:
    """Ctrl-C landing at any point of a blocking call propagates and leaves no task or connection.

    The interrupt is raised at the 1st, 2nd, ... point of the call where a real signal could
    land (a deterministic sweep, see ``_InterruptAt``), until the call runs to its end without
    being interrupted.  Points include those after the task is queued on the loop and before
    the caller holds anything to cancel it with, and those inside the lock waits.  The server
    holds each request until it is dropped from its side, so a task that missed its
    cancellation would keep its connection open.
    """
    server = _SilentServer()
    # Far above the sweep's requests: the dropped ones are ambiguous, and each would hold a slot
    # of the default windows for seconds past its window (the sweep would wait, not fail).
    roomy = RateLimits(tuple(Window(w.name, 10_000, w.seconds) for w in RateLimits().windows))
    options: dict[str, Any] = {"base_url": server.url, "retry": RetryConfig(attempts=1), "limits": roomy}
    try:
        with Salescaling("key", **options) as client:
            if blocking_call == "request":
                runner: Callable[..., Any] = client.run

                def call() -> Any:
                    return client.request("GET", "contacts")

            else:
                runner = run_sync

                async def open_client() -> AsyncSalescaling:
                    return await AsyncSalescaling("key", **options).__aenter__()

                shared = run_sync(open_client)  # lives on run_sync's loop, reused by every call

                def call() -> Any:
                    return run_sync(shared.request, "GET", "contacts")

            baseline = runner(_current_tasks)
            settle = _settled(runner)
            interrupted = 0
            for n in itertools.count(1):
                before = server.requests
                finished = threading.Event()

                def drop_when_held(before: int = before, finished: threading.Event = finished) -> None:
                    with server.changed:
                        server.changed.wait_for(lambda: server.requests > before or finished.is_set())
                    server.drop()  # ends an uninterrupted call (a disconnect), never by time

                dropper = threading.Thread(target=drop_when_held)
                dropper.start()
                interrupt = _InterruptAt(n)
                outcome: BaseException | None = None
                sys.setprofile(interrupt)
                try:
                    call()
                except BaseException as exc:  # the outcome is checked below
                    outcome = exc
                interrupt.armed = False
                sys.setprofile(None)
                with server.changed:
                    finished.set()
                    server.changed.notify_all()
                dropper.join()
                assert isinstance(outcome, KeyboardInterrupt) == interrupt.fired, (n, outcome)  # never lost
                assert settle(baseline) == 0, n  # the interrupted call's task ended
                assert server.wait_for(lambda: server.open == 0), n  # and freed its connection
                if not interrupt.fired:
                    break
                interrupted += 1
            assert interrupted > 20  # the sweep really went through the call
            assert runner(_current_tasks) == baseline  # the loop still answers
            if blocking_call == "run_sync":
                run_sync(shared.aclose)
    finally:
        server.close()


def test_an_interrupt_anywhere_strands_no_call_of_other_threads() -> None:
    """Ctrl-C at any point of a blocking call, then calls from other threads: they all complete.

    Calls queued while a loop wake-up is pending share it, so the sweep lands, among others,
    between the interrupted call claiming the wake-up and scheduling it; the calls that other
    threads make next would queue behind that wake-up.  Each must still get its result (the
    client's ``call_timeout`` is a bound for a broken build only).
    """
    with Salescaling("key", base_url="http://127.0.0.1:1/api/v1/", call_timeout=60) as client:

        async def step() -> int:
            await asyncio.sleep(0)
            return 1

        def others() -> list[Any]:
            outcomes: list[Any] = []

            def one() -> None:
                try:
                    outcomes.append(client.run(step))
                except BaseException as exc:  # the outcome is checked by the caller
                    outcomes.append(exc)

            threads = [threading.Thread(target=one) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return outcomes

        # A collection in the main thread may run other threads' finalisers there, and CPython
        # swallows an interrupt raised in a finaliser: not a point the portal could protect.
        gc.disable()
        try:
            interrupted = 0
            for n in itertools.count(1):
                interrupt = _InterruptAt(n)
                outcome: BaseException | None = None
                sys.setprofile(interrupt)
                try:
                    client.run(step)
                except BaseException as exc:  # the outcome is checked below
                    outcome = exc
                interrupt.armed = False
                sys.setprofile(None)
                assert isinstance(outcome, KeyboardInterrupt) == interrupt.fired, (n, outcome)
                assert others() == [1, 1, 1], n
                if not interrupt.fired:
                    break
                interrupted += 1
            assert interrupted > 10  # the sweep really went through the call
        finally:
            gc.enable()


def test_a_finished_call_frees_its_task_on_the_loop_thread() -> None:
    """The task of a finished call dies on the loop thread, not in the caller.

    Its removal from asyncio's task set is a weakref callback: run in the caller, a Ctrl-C
    landing there would be swallowed by CPython instead of reaching the caller.
    """
    with Salescaling("key", base_url="http://127.0.0.1:1/api/v1/") as client:
        freed_on: list[int] = []

        async def body() -> None:
            task = asyncio.current_task()
            assert task is not None
            weakref.finalize(task, lambda: freed_on.append(threading.get_ident()))

        async def nothing() -> None:
            pass

        gc.disable()  # freed by reference counting, where the last reference goes
        try:
            client.run(body)
            client.run(nothing)  # runs after the loop is done with the first call
        finally:
            gc.enable()
        assert freed_on == [client._get_portal().thread_id]


def test_a_given_up_call_is_cancelled_before_the_next_call_of_its_thread_starts() -> None:
    """After a call timed out (or was interrupted), the thread's next call sees its task cancelled.

    Cleanup code relies on it (a blocking bulk run closes its run right after a cut-short step).
    The loop thread is held while the caller gives up and makes its next call, so both are
    queued before the loop runs either: the order is the queue's, not a race's.
    """
    with Salescaling("key", base_url="http://127.0.0.1:1/api/v1/", call_timeout=0.2) as client:
        portal = client._get_portal()
        cancelled: list[bool] = []
        running, release = threading.Event(), threading.Event()

        async def hold() -> None:
            running.set()
            try:
                await asyncio.Event().wait()  # never set: only the cancellation ends it
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def seen() -> list[bool]:
            return list(cancelled)

        def hold_the_loop() -> None:
            release.wait(60)  # a bound for a broken build only

        def holder() -> None:
            running.wait(60)
            portal.loop.call_soon_threadsafe(hold_the_loop)
            # Let the loop go once the caller has given up and queued its next call.
            for _ in range(60_000):
                if len(portal.queue) >= 2:
                    break
                threading.Event().wait(0.001)
            release.set()

        thread = threading.Thread(target=holder)
        thread.start()
        with pytest.raises(TimeoutError, match="call_timeout"):
            client.run(hold)
        client.call_timeout = None  # the loop is held: only the order decides what ``seen`` sees
        assert client.run(seen) == [True]
        thread.join()


def test_a_timeout_error_of_the_call_is_not_taken_for_call_timeout() -> None:
    """An error raised by the call itself (here a ``TimeoutError`` subclass) reaches the caller as is."""
    with Salescaling("key", base_url="http://127.0.0.1:1/api/v1/", call_timeout=600) as client:

        async def out_of_budget() -> None:
            raise DeadlineExceededError("the budget cannot grant it in time", retry_after=1.0)

        with pytest.raises(DeadlineExceededError, match="budget"):
            client.run(out_of_budget)


def test_close_ends_calls_in_flight_in_other_threads() -> None:
    """``close()`` while another thread waits on a held request: that thread gets an error, nothing hangs."""
    server = _SilentServer()
    outcome: list[BaseException | None] = []
    try:
        client = Salescaling("key", base_url=server.url, retry=RetryConfig(attempts=1))

        def waiter() -> None:
            try:
                client.request("GET", "contacts")
                outcome.append(None)
            except BaseException as exc:  # the outcome is checked below
                outcome.append(exc)

        thread = threading.Thread(target=waiter)
        thread.start()
        assert server.wait_for(lambda: server.requests == 1)  # the call is in flight
        client.close()
        thread.join()
        assert len(outcome) == 1 and isinstance(outcome[0], SalescalingError), outcome
        assert server.wait_for(lambda: server.open == 0)
        with pytest.raises(ClientClosedError):
            client.request("GET", "contacts")
    finally:
        server.close()


def test_forked_child_makes_its_own_call(sim: Simulator) -> None:
    """After fork the child builds its own portal lazily and its call succeeds."""
    with Salescaling(sim.api_key, base_url=sim.url) as client:
        client.users.list().first_page()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
            pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                code = 0 if len(client.users.list(page_size=3).first_page().items) == 3 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert len(client.users.list(page_size=2).first_page().items) == 2  # the parent still works


def test_forgotten_client_warns(sim: Simulator) -> None:
    """A client garbage-collected while open emits ResourceWarning and stops its thread."""
    client = Salescaling(sim.api_key, base_url=sim.url)
    client.users.list().first_page()
    before = threading.active_count()
    del client
    with pytest.warns(ResourceWarning):
        gc.collect()
    assert threading.active_count() < before


def test_run_sync_runs_user_coroutines(sim: Simulator) -> None:
    """run_sync runs any coroutine function on the shared portal and returns its result."""

    async def count_users(limit: int) -> int:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            return len((await client.users.list(page_size=limit).first_page()).items)

    assert run_sync(count_users, 6) == 6
    assert run_sync(count_users, limit=2) == 2


def test_closed_client_refuses_calls(sim: Simulator) -> None:
    """After close() calls raise; closing twice is harmless."""
    client = Salescaling(sim.api_key, base_url=sim.url)
    client.close()
    client.close()
    with pytest.raises(SalescalingError):
        client.users.list().first_page()


def _counting_runs(client: Salescaling) -> list[int]:
    """Count the client's crossings to its loop thread (every blocking call goes through ``run``)."""
    crossings = [0]
    run = client.run

    def counted(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        crossings[0] += 1
        return run(fn, *args, **kwargs)

    client.run = counted  # type: ignore[method-assign]
    client._runner = client  # resources built from now on look ``run`` up on the instance
    return crossings


def test_blocking_paginator_crosses_threads_once_per_page(sim: Simulator) -> None:
    """Iterating 30 records in pages of 7 crosses to the portal once per page (+1 for the end)."""
    with Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
        crossings = _counting_runs(client)
        records = list(client.users.list(page_size=7))
        assert len(records) == 30
        assert crossings[0] == 5 + 1  # 5 pages, then one step that learns there is no more
        crossings[0] = 0
        pages = client.users.list(page_size=10).pages()
        assert len(next(pages).items) == 10
        pages.close()  # stopping early closes the async generator: one more crossing
        assert crossings[0] == 2


def test_blocking_views_share_portal_pool_and_budget(sim: Simulator) -> None:
    """``with_options``/``with_key`` views share the portal and scheduler; views never close it."""
    other = "second-key"
    sim.keys[other] = SimKey()
    with Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
        fast = client.with_options(timeout=5.0, retry=FAST_RETRY)
        tenant = client.with_key(other)
        assert len(fast.users.list(page_size=3).first_page().items) == 3
        assert len(tenant.users.list(page_size=2).first_page().items) == 2
        assert fast.async_client.scheduler is client.async_client.scheduler is tenant.async_client.scheduler
        assert client.statistics().granted == 1 and fast.statistics().granted == 1
        assert tenant.statistics().granted == 1  # its own budget
        assert sim.stats(other).accepted == 1
        assert tenant.request("GET", "users", params={"limit": 1}).status_code == 200
        tenant.close()  # a view owns nothing
        assert client.users.list(page_size=1).first_page().items
        assert "view" in repr(tenant) and "second-key" not in repr(tenant)
        with pytest.raises(ConfigError):
            client.with_key("bad key with spaces")
    with pytest.raises(SalescalingError):
        fast.users.list().first_page()


def test_a_blocking_view_made_per_request_is_freed_at_once(sim: Simulator) -> None:
    """A dropped blocking ``with_key`` view, used in every mode, is freed by reference counting.

    A threaded web app may make one per request: a cycle (the view as its own runner, or its
    requester holding it) would keep each one, its key included, until the collector ran.
    """
    other = "second-key"
    sim.keys[other] = SimKey()
    with Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
        client.users.list(page_size=1).first_page()  # the portal and the root's own objects
        gc.collect()
        gc.disable()
        try:
            view = client.with_key(other)
            contacts = view.contacts
            first = contacts.list(page_size=2).first_page().items[0]
            assert contacts.get(first.id).id == first.id
            assert len(list(contacts.list(page_size=2))) > 2  # the blocking paginator, every page
            assert contacts.with_raw_response.list(page_size=2).status_code == 200
            assert view.request("GET", "contacts", params={"limit": 1}).status_code == 200
            assert view.statistics().granted >= 5
            alive = [weakref.ref(view), weakref.ref(contacts), weakref.ref(view.async_client)]
            del view, contacts
            assert [ref() for ref in alive] == [None, None, None]
        finally:
            gc.enable()


def test_a_new_resource_works_blocking_without_touching_sync(sim: Simulator) -> None:
    """A resource written once (async methods, ``@operation``/``@listing``) runs on the blocking client."""
    from salescaling_async._endpoints import USERS_LIST
    from salescaling_async._resources._base import M, Raw, Resource  # noqa: F401
    from salescaling_async._resources._operations import listing, operation

    class People(Resource[M, "People[Raw[M]]"]):
        @listing
        def list(self, *, page_size: int = 100) -> AsyncPaginator[Any]:
            return self._list(USERS_LIST, {}, page_size=page_size, start_page=1, prefetch=0, priority=None)

        @operation
        async def count(self) -> int:
            envelope = await self._client.call(USERS_LIST, params={"limit": 1})
            return int(envelope.count or 0)

    with Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
        people: People[Any] = People(client._requester, client._runner)
        assert people.count() == 30
        assert len(list(people.list(page_size=10))) == 30
        assert people.with_raw_response.count().parse() == 30


def test_blocking_constructor_mirrors_the_async_one() -> None:
    """Every ``AsyncSalescaling`` argument exists on ``Salescaling`` with the same kind, type and default."""
    import inspect

    async_params = dict(inspect.signature(AsyncSalescaling.__init__).parameters)
    blocking_params = dict(inspect.signature(Salescaling.__init__).parameters)
    extra = {name: blocking_params.pop(name) for name in ("strict", "call_timeout")}
    assert blocking_params.keys() == async_params.keys()
    for name, param in async_params.items():
        mine = blocking_params[name]
        assert (mine.kind, mine.default, mine.annotation) == (param.kind, param.default, param.annotation), name
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra.values())
