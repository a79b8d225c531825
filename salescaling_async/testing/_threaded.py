"""Run a :class:`Simulator` on its own event loop thread (for tests of blocking code)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._simulator import Simulator


@contextmanager
def simulator_in_thread(sim: Simulator) -> Iterator[Simulator]:
    """Serve ``sim`` from a daemon thread with its own loop for the ``with`` block.

    Blocking clients (``Salescaling``) can then call it from the test's own thread.

    .. versionadded:: 0.1.0
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="salescaling-simulator", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(sim.start(), loop).result(timeout=30)
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
