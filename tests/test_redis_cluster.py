"""The Redis budget on a real three-node Redis Cluster started on loopback.

Skipped only when ``redis-server`` is missing and the ``CI`` variable is unset; on CI a
missing server fails the test.  Ports: ``SALESCALING_TEST_CLUSTER_PORT`` (three consecutive
ports and their cluster-bus ports +10000), or free ones.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from salescaling_async import RateLimits, RedisBudget
from salescaling_async.testing import SimKey, Simulator, simulator_in_thread

from . import fleet_worker

SCALE = 4.0


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> list[int]:
    base = os.environ.get("SALESCALING_TEST_CLUSTER_PORT")
    if base:
        return [int(base) + i for i in range(3)]
    for start in range(17000, 19000, 7):
        ports = [start + i for i in range(3)]
        if all(_free(p) and _free(p + 10000) for p in ports):
            return ports
    raise RuntimeError("no free ports for a Redis Cluster")


@pytest.fixture(name="cluster_url")
def _cluster_url(tmp_path: Path) -> Iterator[str]:
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or cli is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server/redis-cli missing on CI (Debian package redis-server)")
        pytest.skip("redis-server is not installed")
    ports = _ports()
    procs = []
    try:
        for port in ports:
            node = tmp_path / str(port)
            node.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(node / "nodes.conf"),
                        "--dir",
                        str(node),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            _wait(lambda p=port: subprocess.run([cli, "-p", str(p), "ping"], capture_output=True).stdout == b"PONG\n")
        subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait(
            lambda: all(
                b"cluster_state:ok"
                in subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True).stdout
                for p in ports
            )
        )
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _wait(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError("the Redis Cluster did not come up")


def test_every_script_stays_in_one_hash_slot() -> None:
    """The log and meta keys of one API key share a hash slot; different keys spread out."""
    from redis.crc import key_slot

    budget = RedisBudget(namespace="ns")
    slots = set()
    for i in range(50):
        log, meta = budget.redis_key(f"key{i}"), budget.redis_key(f"key{i}", "meta")
        assert key_slot(log.encode()) == key_slot(meta.encode())
        slots.add(key_slot(log.encode()))
    assert len(slots) > 40


def test_fleet_on_a_three_node_cluster_zero_429s(cluster_url: str) -> None:
    """3 processes share one hot key and 9 more keys spread over the shards: 0 429s, the hot key busy.

    The throughput bound is loose (a 2-core machine runs 3 clients, 3 Redis nodes and the
    simulator); the figure that matters here is zero 429s.
    """
    import redis
    from redis.crc import key_slot

    keys = {"sk_hot": SimKey(), **{f"sk_spread_{i}": SimKey() for i in range(9)}}
    namespace = uuid.uuid4().hex
    budget = RedisBudget(cluster_url, namespace=namespace, cluster=True)
    from salescaling_async._scheduler import key_id

    client = redis.RedisCluster.from_url(cluster_url)
    try:
        nodes = {
            client.nodes_manager.get_node_from_slot(key_slot(budget.redis_key(key_id(k)).encode())).port for k in keys
        }
    finally:
        client.close()
    assert len(nodes) >= 2  # the keys really live on different shards
    with simulator_in_thread(Simulator(time_scale=SCALE, records=5, keys=keys)) as sim:
        until = time.time() + 8.0
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(3, mp_context=ctx) as pool:
            futures = [
                pool.submit(
                    fleet_worker.saturate, cluster_url, namespace, sim.url, list(keys), SCALE, 3, until, cluster=True
                )
                for _ in range(3)
            ]
            results = [f.result(timeout=120) for f in futures]
        hot = sim.stats("sk_hot")
        rejected = sum(sim.stats(k).rejected for k in keys)
    assert rejected == 0 and sum(r["429"] for r in results) == 0
    assert hot.first_accepted is not None and hot.last_accepted is not None
    span = hot.last_accepted - hot.first_accepted
    assert hot.accepted >= 0.5 * RateLimits().scaled(SCALE).ceiling(span), (hot.accepted, span)
