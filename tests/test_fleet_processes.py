"""Real processes against the simulator: restarts with SIGKILL, and Redis flushed mid-run.

Windows are scaled so that each run outlasts the long window: a process started right after
another one meets full windows, as a CLI rerun or a restarted worker does.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from typing import Any

import redis as sync_redis

from salescaling_async.testing import Simulator, simulator_in_thread

from . import fleet_worker
from .conftest import wait_until
from .redis_server import RedisServer

SCALE = 15.0  # long window 1000 / 4 s


def _run(target: Any, *args: Any, **kwargs: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=target, args=args, kwargs=kwargs)
    proc.start()
    return proc


def test_successive_processes_some_sigkilled_earn_no_429s() -> None:
    """3 processes one after the other on one key, the first two SIGKILLed mid-run: 0 429s.

    Before cold start existed, each new process burst into windows still holding the previous
    one's requests and earned a block.
    """
    ctx = multiprocessing.get_context("spawn")
    with simulator_in_thread(Simulator(time_scale=SCALE, records=5)) as sim:
        gos = [ctx.Event() for _ in range(3)]
        procs = [
            _run(fleet_worker.saturate, None, "", sim.url, [sim.api_key], SCALE, 10, 60.0 if i < 2 else 5.0, go=gos[i])
            for i in range(3)
        ]  # imported now, started one after the other
        for i, proc in enumerate(procs):
            gos[i].set()
            if i < 2:
                time.sleep(5.0)  # longer than the long window: the windows are full
                proc.kill()  # SIGKILL: no cleanup, requests in flight
            proc.join(60)
            # The server counts what a killed process left on the wire when it reads it, which
            # a loaded machine can delay past the restart delay below; a restart before that
            # cannot see those requests in its answers (see "Cold start" in rate-limits.md).
            wait_until(lambda: sim.open_connections == 0, "the server to read what the killed process sent")
            # A supervisor's restart delay (3 s unscaled), far shorter than the long window: with
            # none, the killed process may have left a window full and the probe gets the 429.
            time.sleep(0.2)
        stats = sim.stats()
    assert stats.accepted > 1000  # the runs really saturated the key
    assert stats.rejected == 0


def test_redis_flushed_mid_run_earns_no_429s(redis_server: RedisServer) -> None:
    """2 processes saturating one key through Redis, FLUSHALL mid-run: 0 429s."""
    namespace = uuid.uuid4().hex
    with simulator_in_thread(Simulator(time_scale=SCALE, records=5)) as sim:
        until = time.time() + 9.0
        procs = [
            _run(fleet_worker.saturate, redis_server.url, namespace, sim.url, [sim.api_key], SCALE, 10, until)
            for _ in range(2)
        ]
        client = sync_redis.Redis.from_url(redis_server.url)
        deadline = time.time() + 30
        while sim.stats().accepted < 600 and time.time() < deadline:  # the fleet is at full speed
            time.sleep(0.05)
        client.flushall()
        client.close()
        for proc in procs:
            proc.join(60)
        stats = sim.stats()
    assert stats.accepted > 1000
    assert stats.rejected == 0
