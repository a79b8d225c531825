"""The dlt source against the simulator, loading into DuckDB and into a real PostgreSQL.

PostgreSQL comes from ``SALESCALING_TEST_PG_DSN`` (``.ci/run`` starts one); without it the
PostgreSQL cases skip locally and fail on CI (``CI`` set), so they never skip silently there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import dlt
import pytest

from salescaling_async import RateLimits
from salescaling_async._errors import ConfigError
from salescaling_async.cli._sync import _root_cause
from salescaling_async.integrations import _dlt_run
from salescaling_async.integrations.dlt import RESOURCE_NAMES, SyncMonitor, _ScanStopped, salescaling_source
from salescaling_async.testing import Fault, Simulator, simulator_in_thread

SCALE = 20  # the simulator's windows and the client's limits, both 20 times shorter
ID = {name: "call_id" if name == "calls" else "id" for name in RESOURCE_NAMES}


@attrs.define
class Target:
    """Where a test loads: a dlt destination, its dataset, and SQL to read it back."""

    name: str
    destination: Any
    dataset: str
    env: dict[str, str]
    dsn: str | None = None
    duckdb_path: Path | None = None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        sql = sql.replace("{ds}", f'"{self.dataset}"')
        if self.duckdb_path is not None:
            import duckdb

            with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
                return con.sql(sql).fetchall()
        import psycopg2

        con = psycopg2.connect(self.dsn)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            con.close()

    def active_ids(self, table: str) -> list[str]:
        return [r[0] for r in self.query(f"SELECT {ID[table]} FROM {{ds}}.{table} WHERE _dlt_valid_to IS NULL")]

    def closed_ids(self, table: str) -> list[str]:
        return [r[0] for r in self.query(f"SELECT {ID[table]} FROM {{ds}}.{table} WHERE _dlt_valid_to IS NOT NULL")]


@pytest.fixture(name="pg_dsn")
def _pg_dsn() -> str:
    """The PostgreSQL server of ``SALESCALING_TEST_PG_DSN``; on CI its absence is a failure."""
    dsn = os.environ.get("SALESCALING_TEST_PG_DSN")
    if not dsn:
        if os.environ.get("CI"):
            pytest.fail("CI must set SALESCALING_TEST_PG_DSN (.ci/run starts a PostgreSQL server)")
        pytest.skip("set SALESCALING_TEST_PG_DSN to run the PostgreSQL tests")
    import psycopg2

    psycopg2.connect(dsn).close()  # an unreachable server fails here, clearly
    return dsn


def _duckdb_target(tmp_path: Path) -> Target:
    path = tmp_path / "salescaling.duckdb"
    return Target("duckdb", dlt.destinations.duckdb(str(path)), _dlt_run.DUCKDB_DATASET, {}, duckdb_path=path)


@pytest.fixture(name="target", params=["duckdb", "postgres"])
def _target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """A fresh DuckDB file, or a fresh schema in the test PostgreSQL server."""
    if request.param == "duckdb":
        yield _duckdb_target(tmp_path)
        return
    dsn = request.getfixturevalue("pg_dsn")
    target = Target(
        "postgres",
        dlt.destinations.postgres(credentials=dsn),
        f"t_{uuid.uuid4().hex[:10]}",
        {"DESTINATION__POSTGRES__CREDENTIALS": dsn},
        dsn=dsn,
    )
    try:
        yield target
    finally:
        target.query(
            f'DROP SCHEMA IF EXISTS "{target.dataset}" CASCADE; '
            f'DROP SCHEMA IF EXISTS "{target.dataset}_staging" CASCADE; SELECT 1'
        )


def _sync(
    sim: Simulator, target: Target, tmp_path: Path, names: tuple[str, ...] = RESOURCE_NAMES, **kwargs: Any
) -> tuple[_dlt_run.SyncResult, SyncMonitor]:
    monitor = SyncMonitor()
    kwargs.setdefault("page_size", 25)
    source = salescaling_source(
        sim.api_key, sim.url, names, limits=RateLimits().scaled(SCALE), monitor=monitor, **kwargs
    )
    pipeline = _dlt_run.make_pipeline(target.destination, target.dataset, str(tmp_path / "pipelines"))
    return _dlt_run.run(pipeline, source, names, monitor, full_refresh=False), monitor


def _store_ids(sim: Simulator, name: str) -> list[str]:
    path = name.replace("_", "-")
    key = "callId" if name == "calls" else "id"
    return [r[key] for r in sim.store.data[path]]


def _counts(result: _dlt_run.SyncResult, name: str) -> tuple[int, int, int, int]:
    r = next(r for r in result.resources if r.name == name)
    return r.rows, r.new, r.changed, r.deleted


def test_two_runs_with_creates_hold_each_id_exactly_once(target: Target, tmp_path: Path) -> None:
    """Every resource in parallel, twice, with creates, a change and a delete in between."""
    sim = Simulator(records=60, time_scale=SCALE, seed=3)
    with simulator_in_thread(sim):
        first, monitor = _sync(sim, target, tmp_path)
        assert all(_counts(first, n) == (60, 60, 0, 0) for n in RESOURCE_NAMES)
        for i in range(7):
            sim.store.add("contacts", {"firstName": f"New {i}", "lastName": "Person"})
        sim.store.add("opportunities", {"name": "Fresh deal", "amount": 5})
        sim.store.data["contacts"][0]["city"] = "Oslo"
        gone = sim.store.data["calendars"].pop(4)["id"]
        second, monitor = _sync(sim, target, tmp_path)
    for name in RESOURCE_NAMES:
        ids = target.active_ids(name)
        assert len(ids) == len(set(ids)), name
        assert sorted(ids) == sorted(_store_ids(sim, name)), name
    assert _counts(second, "contacts") == (67, 7, 1, 0)
    assert _counts(second, "opportunities") == (61, 1, 0, 0)
    assert _counts(second, "calendars") == (59, 0, 0, 1)
    assert _counts(second, "users") == (60, 0, 0, 0)
    assert target.closed_ids("calendars") == [gone]
    assert target.closed_ids("contacts") == [sim.store.data["contacts"][0]["id"]]
    assert sim.stats().rejected == 0 and monitor.rate_limited == 0 and second.rate_limited == 0


def test_one_scheduler_serves_every_resource_at_zero_429s(tmp_path: Path) -> None:
    """All nine resources in parallel go through one client: its scheduler granted every request."""
    sim = Simulator(records=200, time_scale=SCALE)
    with simulator_in_thread(sim):
        result, monitor = _sync(sim, _duckdb_target(tmp_path), tmp_path)
    stats = monitor.statistics
    assert stats is not None and stats.rate_limited == 0
    accepted = sim.stats().accepted
    assert accepted >= 9 * 8  # 200 records in pages of 25, nine resources
    # one scheduler saw every request (a prefetched page cancelled after the last one may be
    # granted and never sent); two clients would each have seen only a part
    assert accepted <= stats.granted == result.requests <= accepted + len(RESOURCE_NAMES)
    assert sim.stats().rejected == 0
    assert monitor.complete == set(RESOURCE_NAMES)


def test_columns_are_typed_nested_lists_are_child_tables_unknown_fields_kept(tmp_path: Path) -> None:
    """Timestamps are timestamps, participants a child table, an unknown field a new column."""
    target = _duckdb_target(tmp_path)
    sim = Simulator(records=5, limits=None)
    sim.store.add("contacts", {"firstName": "Ann", "favouriteColour": "teal", "createdAt": "2024-05-01T10:00:00.000Z"})
    sim.store.data["calendar-events"][0]["recurrence"] = ["RRULE:FREQ=WEEKLY"]
    with simulator_in_thread(sim):
        _sync(sim, target, tmp_path, ("contacts", "calendar_events", "calls", "users"))
    types = dict(
        target.query(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main'"
        )
    )
    assert types["contacts.created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["calendar_events.start_date_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["calls.call_type__name"] == "VARCHAR" and types["calls.duration"] == "DOUBLE"
    assert types["users.metadata"] == "JSON"
    assert types["contacts.favourite_colour"] == "VARCHAR"
    assert target.query("SELECT favourite_colour FROM {ds}.contacts WHERE first_name = 'Ann'") == [("teal",)]
    assert target.query("SELECT count(*) FROM {ds}.calendar_events__participants")[0][0] == 5
    assert target.query("SELECT value FROM {ds}.calendar_events__recurrence") == [("RRULE:FREQ=WEEKLY",)]
    assert target.query(
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'calls' "
        "AND column_name = 'call_id' AND table_schema = 'main'"
    ) == [("NO",)]


def test_failed_scan_marks_nothing_deleted_and_the_rerun_does(target: Target, tmp_path: Path) -> None:
    """A scan that fails mid-way loads nothing; the next complete scan closes the deleted row."""
    sim = Simulator(records=100, time_scale=SCALE)
    with simulator_in_thread(sim):
        _sync(sim, target, tmp_path, ("contacts",))
        gone = sim.store.data["contacts"].pop(10)["id"]
        sim.store.add("contacts", {"firstName": "Late"})
        sim.faults = (Fault("status", status=400, on={3}),)  # page 3 fails, never retried
        with pytest.raises(Exception, match="400") as caught:
            _sync(sim, target, tmp_path, ("contacts",))
        assert "PipelineStepFailed" in type(caught.value).__name__
        before = sorted(target.active_ids("contacts"))
        assert gone in before and len(before) == 100 and target.closed_ids("contacts") == []
        sim.faults = ()
        result, _ = _sync(sim, target, tmp_path, ("contacts",))
    assert _counts(result, "contacts") == (100, 1, 0, 1)
    assert target.closed_ids("contacts") == [gone]
    assert sorted(target.active_ids("contacts")) == sorted(_store_ids(sim, "contacts"))


def test_a_scan_told_to_stop_fails_the_run_and_loads_nothing(tmp_path: Path) -> None:
    """What the CLI's SIGINT handler does besides raising in the main thread: every scan
    stops at its next page, so the run fails and nothing of it is loaded, even if the main
    thread's interrupt was swallowed; the rerun loads everything."""
    target = _duckdb_target(tmp_path)
    sim = Simulator(records=100, time_scale=SCALE)
    with simulator_in_thread(sim):
        _sync(sim, target, tmp_path, ("contacts",))
        before = sorted(target.active_ids("contacts"))
        sim.store.data["contacts"].pop(10)
        monitor = SyncMonitor()
        monitor.on_page = lambda _resource, _count: monitor._stopping.set()  # after the first page
        source = salescaling_source(
            sim.api_key, sim.url, ("contacts",), limits=RateLimits().scaled(SCALE), monitor=monitor, page_size=25
        )
        pipeline = _dlt_run.make_pipeline(target.destination, target.dataset, str(tmp_path / "pipelines"))
        with pytest.raises(Exception, match="stopped by SIGINT") as caught:
            _dlt_run.run(pipeline, source, ("contacts",), monitor, full_refresh=False)
        assert isinstance(_root_cause(caught.value), _ScanStopped), repr(caught.value)  # what the CLI reads
        assert monitor.records["contacts"] == 25  # stopped at the second page
        assert sorted(target.active_ids("contacts")) == before and target.closed_ids("contacts") == []
        result, _ = _sync(sim, target, tmp_path, ("contacts",))
    assert _counts(result, "contacts") == (99, 0, 0, 1)


def test_a_resource_emptied_closes_every_row(tmp_path: Path) -> None:
    """A complete scan that finds nothing at all still closes the rows of the records gone."""
    target = _duckdb_target(tmp_path)
    sim = Simulator(records=30, limits=None)
    with simulator_in_thread(sim):
        _sync(sim, target, tmp_path, ("users",))
        sim.store.data["users"].clear()
        result, _ = _sync(sim, target, tmp_path, ("users",))
    assert _counts(result, "users") == (0, 0, 0, 30)
    assert target.active_ids("users") == []


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        pytest.param({"resources": ["contacts", "nope"]}, "unknown resource", id="unknown-resource"),
        pytest.param({"resources": "contacts"}, "not one string", id="one-string"),
        pytest.param({"api_key": "has space"}, "whitespace", id="bad-key"),
        pytest.param({"base_url": "ftp://x"}, "http", id="bad-url"),
        pytest.param({"page_size": 0}, "page_size", id="bad-page-size"),
    ],
)
def test_bad_arguments_fail_before_anything_runs(kwargs: dict[str, Any], needle: str) -> None:
    """Wrong names, keys, URLs and sizes raise ConfigError when the source is built."""
    args = {"api_key": "sk_test", **kwargs}
    with pytest.raises(ConfigError, match=needle):
        salescaling_source(**args)


def test_key_comes_from_dlt_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without api_key=, the key is dlt's sources.salescaling.api_key (here from the environment)."""
    sim = Simulator(records=3, limits=None, keys=None)
    monkeypatch.delenv("SALESCALING_API_KEY", raising=False)
    monkeypatch.setenv("SOURCES__SALESCALING__API_KEY", sim.api_key)
    with simulator_in_thread(sim):
        monitor = SyncMonitor()
        pipeline = _dlt_run.make_pipeline(_duckdb_target(tmp_path).destination, "main", str(tmp_path / "p"))
        pipeline.run(salescaling_source(base_url=sim.url, resources=["users"], monitor=monitor))
    assert monitor.records == {"users": 3} and sim.stats().unauthorized == 0


_WORKER = """
import sys, dlt
from salescaling_async import RateLimits, RedisBudget
from salescaling_async.integrations import _dlt_run
from salescaling_async.integrations.dlt import SyncMonitor, salescaling_source
url, redis_url, namespace, resource, workdir, scale = sys.argv[1:]
monitor = SyncMonitor()
source = salescaling_source("sk_test_simulator", url, [resource], RedisBudget(redis_url, namespace=namespace),
                            limits=RateLimits().scaled(float(scale)), page_size=10, monitor=monitor)
pipeline = _dlt_run.make_pipeline(dlt.destinations.duckdb(workdir + "/s.duckdb"), "main", workdir + "/p")
result = _dlt_run.run(pipeline, source, [resource], monitor, full_refresh=False)
print("rows", result.resources[0].rows, "429s", monitor.rate_limited)
"""


def test_two_machines_share_the_key_through_redis(redis_url: str, tmp_path: Path) -> None:
    """Two processes syncing different resources with one key and a RedisBudget: 0 429s."""
    import subprocess
    import sys

    scale = "4"
    sim = Simulator(records={"contacts": 400, "opportunities": 400}, time_scale=float(scale))
    namespace = uuid.uuid4().hex
    with simulator_in_thread(sim):
        procs = []
        for resource in ("contacts", "opportunities"):
            workdir = tmp_path / resource
            workdir.mkdir()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, sim.url, redis_url, namespace, resource, str(workdir), scale],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all("rows 400 429s 0" in out for out in outputs), outputs
    assert sim.stats().rejected == 0 and sim.stats().accepted >= 2 * 40


def test_a_complete_scan_left_unloaded_is_loaded_before_the_next(tmp_path: Path) -> None:
    """A run stopped after its scan completed (before the load) is finished by the next run first."""
    target = _duckdb_target(tmp_path)
    sim = Simulator(records=20, limits=None)
    with simulator_in_thread(sim):
        pipeline = _dlt_run.make_pipeline(target.destination, target.dataset, str(tmp_path / "pipelines"))
        pipeline.extract(salescaling_source(sim.api_key, sim.url, ["users"]))
        pipeline.normalize()  # stopped here: a complete scan, never loaded
        sim.store.add("users", {"email": "late@example.com"})
        result, _ = _sync(sim, target, tmp_path, ("users",))
    assert result.finished_pending
    assert _counts(result, "users") == (21, 1, 0, 0)
    assert sorted(target.active_ids("users")) == sorted(_store_ids(sim, "users"))


def test_records_deleted_during_the_scan_fail_it_instead_of_closing_skipped_rows(tmp_path: Path) -> None:
    """Deletions mid-scan shift records past the reader: the run loads nothing rather than closing them."""
    import threading
    import time

    target = _duckdb_target(tmp_path)
    sim = Simulator(records={"contacts": 100}, limits=None)
    with simulator_in_thread(sim):
        _sync(sim, target, tmp_path, ("contacts",))
        sim.faults = (Fault("latency", on={3}, latency=2.0),)  # page 3 waits while we delete from page 1
        start = sim.stats().accepted
        errors: list[BaseException] = []

        def scan() -> None:
            try:
                _sync(sim, target, tmp_path, ("contacts",), page_size=10, prefetch=0)
            except Exception as exc:
                errors.append(exc)

        worker = threading.Thread(target=scan)
        worker.start()
        for _ in range(6000):
            if sim.stats().accepted >= start + 2:  # pages 1 and 2 served; page 3 not yet
                break
            time.sleep(0.005)
        deleted = [sim.store.data["contacts"].pop(0)["id"] for _ in range(5)]
        worker.join(60)
    assert errors and "count fell from 100 to 95" in str(errors[0]), errors
    assert sorted(target.active_ids("contacts")) == sorted([*deleted, *_store_ids(sim, "contacts")])
    assert target.closed_ids("contacts") == []
