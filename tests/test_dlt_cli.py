"""``salescaling sync`` as a real subprocess: defaults, summary, signals mid-scan, reruns."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from salescaling_async.testing import Fault, Simulator
from tests.test_dlt import Target, _pg_dsn, _target  # noqa: F401 - fixtures shared with the in-process tests

from .conftest import until

SCRIPT = str(Path(sys.executable).parent / "salescaling")
SCALE = 20


def _args(sim: Simulator, target: Target, tmp_path: Path, *resources: str) -> list[str]:
    where = [] if target.name == "duckdb" else ["--destination", "postgres", "--dataset", target.dataset]
    return [
        "sync",
        *resources,
        "--page-size",
        "10",
        "--time-scale",
        str(SCALE),
        "--api-key",
        sim.api_key,
        "--base-url",
        sim.url,
        "--pipelines-dir",
        str(tmp_path / "pipelines"),
        *where,
    ]


async def _start(args: list[str], target: Target, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        SCRIPT,
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", **target.env},
    )


async def _run(args: list[str], target: Target, cwd: Path) -> tuple[int, str]:
    proc = await _start(args, target, cwd)
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, out.decode()


async def test_default_sync_writes_salescaling_duckdb_and_a_summary(tmp_path: Path) -> None:
    """No destination given: ./salescaling.duckdb, a table per resource, counts and 0 429s."""
    target = Target("duckdb", None, "main", {}, duckdb_path=tmp_path / "salescaling.duckdb")
    async with Simulator(records=40, time_scale=SCALE) as sim:
        code, out = await _run(_args(sim, target, tmp_path), target, tmp_path)
        assert code == 0, out
        sim.store.add("users", {"email": "new@example.com"})
        code, again = await _run(_args(sim, target, tmp_path, "users", "calendar-events"), target, tmp_path)
        assert code == 0, again
    assert target.duckdb_path is not None and target.duckdb_path.exists()
    for name in ("calls", "contacts", "calendar_events", "voice_agents"):
        assert name in out and len(target.active_ids(name)) == 40
    assert "429s 0" in out and "new" in out and "deleted" in out and "wall time" in out
    assert len(target.active_ids("users")) == 41
    assert "users" in again and "contacts" not in again.split("synced into")[1]
    assert sim.stats().rejected == 0


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGKILL, id="SIGKILL"), pytest.param(signal.SIGINT, id="SIGINT")])
async def test_stopped_sync_then_rerun_loses_nothing_and_closes_only_the_deleted(
    target: Target, tmp_path: Path, sig: signal.Signals
) -> None:
    """A sync stopped mid-scan loads nothing; the rerun holds every id once and closes only the deleted one."""
    async with Simulator(records={"contacts": 300, "users": 20}, time_scale=SCALE) as sim:
        args = _args(sim, target, tmp_path, "contacts", "users")
        code, out = await _run(args, target, tmp_path)
        assert code == 0, out
        before = sorted(target.active_ids("contacts"))
        gone = sim.store.data["contacts"].pop(7)["id"]
        sim.store.add("contacts", {"firstName": "Late"})
        # the 15th request of the next run hangs for 3 s, so its scan cannot finish before the signal
        sim.faults = (Fault("latency", on={15}, latency=3.0),)
        start = sim.stats().accepted
        proc = await _start(args, target, tmp_path)
        await until(lambda: sim.stats().accepted >= start + 10, "the scan to be under way", timeout=60, interval=0.02)
        proc.send_signal(sig)
        out_bytes, _ = await asyncio.wait_for(proc.communicate(), 120)
        stopped = out_bytes.decode()
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "interrupted" in stopped, stopped
            assert "Traceback" not in stopped and "error occurred" not in stopped, stopped  # a clean close
        else:
            assert proc.returncode == -signal.SIGKILL
        assert sorted(target.active_ids("contacts")) == before  # the deleted one is not closed
        assert target.closed_ids("contacts") == []
        sim.faults = ()
        code, out = await _run(args, target, tmp_path)
        assert code == 0, out
        ids = target.active_ids("contacts")
        assert len(ids) == len(set(ids)) == 300
        assert sorted(ids) == sorted(c["id"] for c in sim.store.data["contacts"])
        assert target.closed_ids("contacts") == [gone]
        assert sorted(target.active_ids("users")) == sorted(u["id"] for u in sim.store.data["users"])
        assert "429s 0" in out and sim.stats().rejected == 0


async def test_full_refresh_drops_history(tmp_path: Path) -> None:
    """--full-refresh reloads the tables from scratch: the closed rows of earlier runs are gone."""
    target = Target("duckdb", None, "main", {}, duckdb_path=tmp_path / "salescaling.duckdb")
    async with Simulator(records=30, limits=None) as sim:
        args = _args(sim, target, tmp_path, "contacts")
        assert (await _run(args, target, tmp_path))[0] == 0
        sim.store.data["contacts"].pop(0)
        assert (await _run(args, target, tmp_path))[0] == 0
        assert len(target.closed_ids("contacts")) == 1
        code, out = await _run([*args, "--full-refresh"], target, tmp_path)
        assert code == 0, out
    assert target.closed_ids("contacts") == [] and len(target.active_ids("contacts")) == 29


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        pytest.param(["nonsense"], 2, "nonsense", id="bad-resource"),
        pytest.param(["--api-key", "wrong"], 3, "401", id="bad-key"),
        pytest.param(["--api-key", "has space"], 2, "whitespace", id="malformed-key"),
        pytest.param(["--dataset", "salescaling"], 2, "named like the file", id="dataset-named-like-file"),
    ],
)
async def test_sync_errors_are_one_line_and_an_exit_code(
    tmp_path: Path, extra: list[str], code: int, needle: str
) -> None:
    """Bad input and a rejected key end with one error line and the documented exit code."""
    target = Target("duckdb", None, "main", {}, duckdb_path=tmp_path / "salescaling.duckdb")
    async with Simulator(records=3, limits=None) as sim:
        got, out = await _run([*_args(sim, target, tmp_path, "users"), *extra], target, tmp_path)
    assert got == code, out
    assert needle in out and "Traceback" not in out


def test_sigint_during_a_sync_stops_the_scans_and_an_interrupt_swallowed_by_a_finalizer_stays_quiet() -> None:
    """The sync's SIGINT handler raises KeyboardInterrupt as Python's does and also sets the
    scans' stop; a KeyboardInterrupt that lands in a finalizer (where Python can only print
    "Exception ignored") is not printed, any other such exception still is; both the handler
    and the hook are put back afterwards."""
    from salescaling_async.cli._sync import _stopped_by_sigint
    from salescaling_async.integrations.dlt import SyncMonitor

    def finalizer_raising(exc: BaseException) -> None:
        def gen() -> object:
            try:
                yield 1
            finally:
                raise exc

        started = gen()
        next(started)  # type: ignore[call-overload]
        del started  # closed now: what its finally raises is "unraisable"

    monitor, seen = SyncMonitor(), []
    handler, hook = signal.getsignal(signal.SIGINT), sys.unraisablehook

    def recording(info: object) -> None:
        seen.append(getattr(info, "exc_type", None))

    sys.unraisablehook = recording
    try:
        with _stopped_by_sigint(monitor):
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
            assert monitor._stopping.is_set()
            finalizer_raising(KeyboardInterrupt())
            finalizer_raising(RuntimeError("other"))
        assert seen == [RuntimeError]
        assert signal.getsignal(signal.SIGINT) is handler and sys.unraisablehook is recording
    finally:
        sys.unraisablehook = hook
