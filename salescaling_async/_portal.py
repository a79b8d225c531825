"""The blocking client's loop threads. Strictly private; ``run_sync`` is public via ``sync``.

One :class:`Portal` per blocking client: an anyio blocking portal (a daemon thread running
one event loop) and the async client living in it.  Plus the fork and exit safety of every
portal, and ``run_sync``'s process-wide portal.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, Protocol, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._session import AsyncSalescaling

P = ParamSpec("P")
R = TypeVar("R")


class _Forgetful(Protocol):
    def _forget_portal(self) -> None: ...


class Portal:
    """Strictly private. One portal thread and the async client living in it."""

    def __init__(self, client: AsyncSalescaling) -> None:
        self._cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(name="salescaling-portal")
        self.portal = self._cm.__enter__()
        self.thread_id = self.portal.call(threading.get_ident)
        self.client = client
        self.portal.call(client.__aenter__)  # binds the client to the portal's loop now

    def stop(self) -> None:
        try:
            self.portal.call(self.client.aclose)
        finally:
            self._cm.__exit__(None, None, None)


live_clients: weakref.WeakSet[_Forgetful] = weakref.WeakSet()
orphans: list[Any] = []  # portals inherited through fork: never touched, never collected


def _after_fork_in_child() -> None:
    global _default
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

_default: tuple[AbstractContextManager[BlockingPortal], BlockingPortal] | None = None
_default_lock = threading.Lock()


def _close_default() -> None:
    """At exit, stop the shared portal while the interpreter is still whole."""
    global _default
    with _default_lock:
        default, _default = _default, None
    if default is not None:
        with contextlib.suppress(Exception):
            default[0].__exit__(None, None, None)


atexit.register(_close_default)


def run_sync(fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a coroutine function on the process-wide SDK portal and return its result.

    The portal is one daemon thread with one event loop, created on first use (again after a
    fork), so ``AsyncSalescaling`` clients created inside ``fn`` can be kept and reused by
    later ``run_sync`` calls from any thread.

    .. versionadded:: 0.1.0
    """
    global _default
    with _default_lock:
        if _default is None:
            cm = start_blocking_portal(name="salescaling-run-sync")
            _default = (cm, cm.__enter__())
        portal = _default[1]

    async def call() -> R:
        return await fn(*args, **kwargs)

    future = portal.start_task_soon(call)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise
