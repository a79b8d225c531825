"""The blocking client's loop threads. Strictly private; ``run_sync`` is public via ``sync``.

One :class:`Portal` per blocking client: a daemon thread running one event loop (started and
stopped by an anyio blocking portal) and the async client living in it.  Plus the fork and exit
safety of every portal, and ``run_sync``'s process-wide loop thread.

A blocking call queues its coroutine function for the loop and waits on a plain lock
(:class:`_Call`).  The loop starts queued calls in one callback, ``drain``; a call wakes the loop
(``call_soon_threadsafe``: a self-pipe write, and a read on the loop) only if no drain is
pending, so calls made from many threads while the loop is busy share one wake-up.  A caller
interrupted between claiming the wake-up and scheduling it leaves the claim set; its
cancellation, queued too, schedules a drain unconditionally, so no call queued behind it is
stranded, and a thread's cancellation still runs before the next call it makes.

Why not ``BlockingPortal.start_task_soon`` (or ``run_coroutine_threadsafe``, which also costs
more per call): a ``KeyboardInterrupt`` is raised in the main thread wherever
it happens to be, and there it could land

* after the task was queued on the loop but before the caller held anything to cancel it
  with (``start_task_soon`` queues the spawn, then waits for it, then returns the future),
  leaving a task, and its connection, running for ever; or
* just after ``concurrent.futures.Future``'s condition lock was taken inside the Python-level
  ``Condition.__enter__``, so the ``with`` never starts and the lock stays held by the main
  thread: the loop then blocks for ever the next time it settles that future.

Here the call object exists before anything is queued, the ``try`` that cancels it covers the
queueing, cancelling only sets a flag and queues a callback, and the loop never waits on a lock
the caller could hold: it only releases one.  ``tests/test_sync.py`` raises the interrupt at
every call, return and C-call return of a blocking call in turn, and checks that calls other
threads make afterwards still complete.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import os
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._errors import ClientClosedError
from ._session import AsyncSalescaling

P = ParamSpec("P")
R = TypeVar("R")


class _Forgetful(Protocol):
    def _forget_portal(self) -> None: ...


class _Call(Generic[R]):
    """One blocking call: handed to the loop thread once, settled there once, read by the caller.

    The caller waits on ``_done`` (a lock released once when the call is settled); the loop
    thread never takes a lock, so an interrupted caller can never block it.
    """

    __slots__ = ("_args", "_cancelled", "_done", "_error", "_fn", "_kwargs", "_settled", "_task", "_thread", "_value")

    def __init__(self, thread: LoopThread, fn: Callable[..., Awaitable[R]], args: Any, kwargs: Any) -> None:
        self._thread = thread
        self._fn: Callable[..., Awaitable[R]] | None = fn
        self._args = args
        self._kwargs = kwargs
        self._done = threading.Lock()
        self._done.acquire()
        self._settled = False
        self._cancelled = False
        self._task: asyncio.Future[R] | None = None
        self._value: R | None = None
        self._error: BaseException | None = None

    # -- on the loop thread -------------------------------------------------------------------

    def start(self) -> None:
        """Start the task, unless the caller has already given up or the loop is stopping."""
        fn, args, kwargs = self._fn, self._args, self._kwargs
        self._fn = self._args = self._kwargs = None
        if self._cancelled or fn is None:
            self._settle(None, concurrent.futures.CancelledError())
            return
        if self._thread.stopping:
            self._settle(None, ClientClosedError("the client is closed"))
            return
        try:
            task = asyncio.ensure_future(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - bad arguments: the caller gets the error
            self._settle(None, exc)
            return
        self._task = task
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[R]) -> None:
        # The task is freed here, on the loop thread: freed by the caller, its removal from
        # asyncio's task set (a weakref callback) would be a point where a Ctrl-C is swallowed.
        self._task = None
        if task.cancelled():
            if self._thread.stopping:
                self._settle(None, ClientClosedError("the client was closed"))
            else:
                self._settle(None, concurrent.futures.CancelledError())
        elif (error := task.exception()) is not None:
            self._settle(None, error)
        else:
            self._settle(task.result(), None)

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _settle(self, value: R | None, error: BaseException | None) -> None:
        """Record the outcome once and wake the caller (also called after the loop has ended)."""
        if self._settled:
            return
        self._settled = True
        self._value, self._error = value, error
        self._thread.calls.discard(self)
        self._done.release()

    # -- on the caller's thread -------------------------------------------------------------

    def result(self, timeout: float | None) -> R:
        """Wait for the outcome; ``TimeoutError`` if ``timeout`` seconds pass first."""
        if not self._done.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            raise TimeoutError(f"blocking call exceeded call_timeout={timeout}s")
        error, self._error = self._error, None
        if error is not None:
            try:
                raise error
            finally:
                del error  # no cycle through the traceback
        return self._value  # type: ignore[return-value]  # set with no error: the task's result

    def cancel(self) -> None:
        """Give the call up: it never starts, or its task is cancelled on the loop. Never blocks."""
        self._cancelled = True
        thread = self._thread
        # Through the queue, so it runs before any call this thread makes next; and a drain
        # scheduled unconditionally, in case this caller claimed the wake-up and was
        # interrupted before scheduling it.
        thread.queue.append(self._cancel_task)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing of this call runs
            thread.loop.call_soon_threadsafe(thread.drain)


class LoopThread:
    """Strictly private. One daemon thread running one event loop, and blocking calls into it."""

    def __init__(self, name: str) -> None:
        self._cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(name=name)
        self.portal = self._cm.__enter__()
        self.loop, self.thread_id = self.portal.call(_loop_and_thread)
        self.calls: set[_Call[Any]] = set()  # handed to the loop and not yet settled
        self.stopping = False
        self.queue: collections.deque[Callable[[], None]] = collections.deque()  # to run on the loop
        self._wake_pending = False  # a drain of the queue is scheduled and has not begun

    def run(self, fn: Callable[..., Awaitable[R]], args: Any, kwargs: Any, timeout: float | None) -> R:
        """Run ``fn(*args, **kwargs)`` on the loop and wait for its result.

        Whatever ends the wait early (``timeout``, ``KeyboardInterrupt``, any exception,
        wherever it is raised after the call object exists) cancels the call before it
        propagates: the task either never starts or is cancelled on the loop.
        """
        call = _Call(self, fn, args, kwargs)
        try:
            self.calls.add(call)
            if self.stopping:
                raise ClientClosedError("the client is closed")
            self.queue.append(call.start)
            if not self._wake_pending:  # else a drain not yet begun will start this call too
                self._wake_pending = True
                try:
                    self.loop.call_soon_threadsafe(self.drain)
                except RuntimeError:  # the loop is closed
                    raise ClientClosedError("the client is closed") from None
            return call.result(timeout)
        except BaseException:
            call.cancel()
            raise

    def drain(self) -> None:
        """On the loop: run what the callers queued, in order (starts and cancellations)."""
        self._wake_pending = False  # before popping: a call queued from now on schedules a drain
        queue = self.queue
        try:
            while queue:
                queue.popleft()()
        finally:
            if queue:  # an item raised (a bug): the rest still run, in a later pass
                self.loop.call_soon(self.drain)

    def _shut_down(self) -> None:
        """Stop the loop (tasks still running are cancelled) and settle calls it never ran."""
        self.stopping = True
        try:
            self._cm.__exit__(None, None, None)
        finally:
            for call in list(self.calls):
                call._settle(None, ClientClosedError("the client was closed"))


def _loop_and_thread() -> tuple[asyncio.AbstractEventLoop, int]:
    return asyncio.get_running_loop(), threading.get_ident()


class Portal(LoopThread):
    """Strictly private. One loop thread and the async client living in it."""

    def __init__(self, client: AsyncSalescaling) -> None:
        super().__init__("salescaling-portal")
        self.client = client
        self.portal.call(client.__aenter__)  # binds the client to the portal's loop now

    def stop(self) -> None:
        try:
            self.portal.call(self.client.aclose)
        finally:
            self._shut_down()


live_clients: weakref.WeakSet[_Forgetful] = weakref.WeakSet()
orphans: list[Any] = []  # portals inherited through fork: never touched, never collected


def _after_fork_in_child() -> None:
    global _default, _default_lock
    _default_lock = threading.Lock()  # another thread may have held it at the fork
    for client in list(live_clients):
        client._forget_portal()
    if _default is not None:
        orphans.append(_default)
    _default = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def warn_unclosed(portal: Portal) -> None:
    warnings.warn("Salescaling client was never closed; call close()", ResourceWarning, stacklevel=1)
    with contextlib.suppress(Exception):  # best effort at garbage collection / exit
        portal.stop()


# -- run_sync ---------------------------------------------------------------------------------

_default: LoopThread | None = None
_default_lock = threading.Lock()


def _close_default() -> None:
    """At exit, stop the shared loop thread while the interpreter is still whole."""
    global _default
    with _default_lock:
        default, _default = _default, None
    if default is not None:
        with contextlib.suppress(Exception):
            default._shut_down()


atexit.register(_close_default)


def run_sync(fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a coroutine function on the process-wide SDK portal and return its result.

    The portal is one daemon thread with one event loop, created on first use (again after a
    fork), so ``AsyncSalescaling`` clients created inside ``fn`` can be kept and reused by
    later ``run_sync`` calls from any thread.  Ctrl-C cancels the running coroutine.

    .. versionadded:: 0.1.0
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = LoopThread("salescaling-run-sync")
        default = _default
    return default.run(fn, args, kwargs, None)
