"""The real ``salescaling`` console script, run as a subprocess against the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from salescaling_async.testing import Fault, Simulator

SCRIPT = str(Path(sys.executable).parent / "salescaling")


async def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SCRIPT, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode()


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


async def test_export_5000_records_each_once(tmp_path: Path) -> None:
    """All 5,000 contacts land in the file exactly once, with zero 429s."""
    async with Simulator(records={"contacts": 5000}, time_scale=10) as sim:
        out = tmp_path / "contacts.jsonl"
        code, text = await _run("export", "contacts", "--out", str(out), "--page-size", "50", "--time-scale", "10",
                                "--api-key", sim.api_key, "--base-url", sim.url)  # fmt: skip
        assert code == 0, text
        ids = _ids(out)
        assert len(ids) == 5000 and set(ids) == {c["id"] for c in sim.store.data["contacts"]}
        assert sim.stats().rejected == 0
        assert "records" in text and "5,000" in text
        assert not (tmp_path / "contacts.jsonl.checkpoint").exists()


async def test_export_csv_with_filter(tmp_path: Path) -> None:
    """CSV output has a header row and honours --filter."""
    async with Simulator(records={"opportunities": 30}, limits=None) as sim:
        out = tmp_path / "opps.csv"
        name = sim.store.data["opportunities"][3]["name"]
        code, text = await _run("export", "opportunities", "--out", str(out), "--format", "csv",
                                "--filter", f"name={name}", "--api-key", sim.api_key, "--base-url", sim.url)  # fmt: skip
        assert code == 0, text
        lines = out.read_text().splitlines()
        assert lines[0].startswith("id,name,amount") and len(lines) >= 2 and name in lines[1]


async def test_export_killed_then_resumed_has_no_gaps_or_duplicates(tmp_path: Path) -> None:
    """SIGKILL mid-export, rerun the same command: every record exactly once."""
    async with Simulator(records={"contacts": 3000}, time_scale=1) as sim:
        out = tmp_path / "c.jsonl"
        checkpoint = tmp_path / "c.jsonl.checkpoint"
        args = ("export", "contacts", "--out", str(out), "--page-size", "30", "--api-key", sim.api_key,
                "--base-url", sim.url)  # fmt: skip
        proc = await asyncio.create_subprocess_exec(SCRIPT, *args, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)  # fmt: skip
        for _ in range(600):
            await asyncio.sleep(0.05)
            if checkpoint.exists() and json.loads(checkpoint.read_text())["next_page"] >= 15:
                break
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        stopped_at = json.loads(checkpoint.read_text())["next_page"]
        assert 15 <= stopped_at < 100
        with out.open("a") as fh:
            fh.write('{"id": "half-written')  # a torn write after the last checkpoint
        code, text = await _run(*args)
        assert code == 0, text
        ids = _ids(out)
        assert len(ids) == len(set(ids)) == 3000


async def test_import_with_failures_accounts_for_every_line(tmp_path: Path) -> None:
    """Injected 500s and resets: each line gets one result; a rerun creates only what is missing."""
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"name": f"Deal {i}", "amount": i}) for i in range(60)]
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({"amount": 5}))  # missing the required name
    source.write_text("\n".join(lines) + "\n")
    faults = [Fault("status", probability=0.15, methods={"POST"}), Fault("reset_after", on={7}, methods={"POST"})]
    results = tmp_path / "in.jsonl.results.jsonl"
    async with Simulator(records=0, faults=faults, seed=2, time_scale=10) as sim:
        base = ("import", "opportunities", "--in", str(source), "--concurrency", "6", "--time-scale", "10",
                "--api-key", sim.api_key, "--base-url", sim.url)  # fmt: skip
        code, text = await _run(*base)
        assert code == 1 and "failed" in text
        entries = [json.loads(x) for x in results.read_text().splitlines()]
        assert sorted(e["line"] for e in entries) == list(range(1, 63))
        statuses = {e["status"] for e in entries}
        assert statuses >= {"created", "error", "ambiguous"}
        created_first = sum(e["status"] == "created" for e in entries)
        assert len(sim.store.data["opportunities"]) == created_first + 1  # + the ambiguous one, applied

        sim.faults = ()
        code, text = await _run(*base, "--reconcile", "--match", "name")
        assert code == 1  # the two malformed lines still fail
        names = [o["name"] for o in sim.store.data["opportunities"]]
        assert len(names) == len(set(names)) == 60  # nothing created twice, nothing lost
        entries = [json.loads(x) for x in results.read_text().splitlines()]
        assert [e["line"] for e in entries] == list(range(1, 63))  # one result line per input line
        assert {e["line"] for e in entries if e["status"] == "error"} == {11, 21}
        assert "input line 11" in entries[10]["error"] and "input line 21" in entries[20]["error"]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(["export", "contacts"], 2, "--out", id="missing-out"),
        pytest.param(["export", "nonsense", "--out", "x"], 2, "nonsense", id="bad-resource"),
        pytest.param(["export", "contacts", "--out", "{tmp}/o", "--filter", "oops"], 2, "NAME=VALUE", id="bad-filter"),
        pytest.param(["export", "contacts", "--out", "{tmp}/o", "--filter", "colour=red"], 2, "unknown filter",
                     id="unknown-filter"),
        pytest.param(["export", "contacts", "--out", "{tmp}/o", "--api-key", "wrong"], 3, "401", id="bad-key"),
        pytest.param(["export", "contacts", "--out", "{tmp}/o", "--api-key", "has space"], 2, "whitespace",
                     id="malformed-key"),
    ],
)  # fmt: skip
async def test_bad_arguments_give_one_line_errors(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    """Expected failures print a short error (no traceback) and a distinct exit code."""
    async with Simulator(records=1) as sim:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
        if "--api-key" not in argv:
            argv += ["--api-key", sim.api_key]
        actual, text = await _run(*argv, "--base-url", sim.url) if argv[0] == "export" and "--out" in argv else \
            await _run(*argv)
        assert actual == code, text
        assert needle in text
        assert "Traceback" not in text
        assert len(text.strip().splitlines()) <= 6


async def test_limits_prints_the_headers_table() -> None:
    """``salescaling limits`` shows each window's limit and remaining budget."""
    async with Simulator(records=1) as sim:
        code, text = await _run("limits", "--api-key", sim.api_key, "--base-url", sim.url)
    assert code == 0, text
    assert "short" in text and "medium" in text and "1000" in text and "19" in text


async def test_demo_runs_the_main_job(tmp_path: Path) -> None:
    """``salescaling demo`` exports from the embedded simulator with zero 429s."""
    out = tmp_path / "demo.jsonl"
    code, text = await _run("demo", "--records", "300", "--page-size", "100", "--out", str(out))
    assert code == 0, text
    assert len(_ids(out)) == 300 and "0 429s" in text
