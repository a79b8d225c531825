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

from .conftest import until

SCRIPT = str(Path(sys.executable).parent / "salescaling")


async def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SCRIPT,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode()


def _cli(sim: Simulator, command: str, *args: str, key: str | None = None) -> tuple[str, ...]:
    """The words of ``command``, then ``args``, then the options aiming the CLI at ``sim`` (with its key unless ``key``)."""
    return (*command.split(), *args, "--api-key", key or sim.api_key, "--base-url", sim.url)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


async def test_export_5000_records_each_once(tmp_path: Path) -> None:
    """All 5,000 contacts land in the file exactly once, with zero 429s."""
    async with Simulator(records={"contacts": 5000}, time_scale=10) as sim:
        out = tmp_path / "contacts.jsonl"
        code, text = await _run(*_cli(sim, "export contacts --page-size 50 --time-scale 10", "--out", str(out)))
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
        code, text = await _run(
            *_cli(sim, "export opportunities --format csv", "--out", str(out), "--filter", f"name={name}")
        )
        assert code == 0, text
        lines = out.read_text().splitlines()
        assert lines[0].startswith("id,name,amount") and len(lines) >= 2 and name in lines[1]


async def test_export_killed_then_resumed_has_no_gaps_or_duplicates(tmp_path: Path) -> None:
    """SIGKILL mid-export, rerun the same command: every record exactly once."""
    async with Simulator(records={"contacts": 3000}, time_scale=1) as sim:
        out = tmp_path / "c.jsonl"
        checkpoint = tmp_path / "c.jsonl.checkpoint"
        args = _cli(sim, "export contacts --page-size 30", "--out", str(out))
        proc = await asyncio.create_subprocess_exec(
            SCRIPT, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
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
        base = _cli(sim, "import opportunities --concurrency 6 --time-scale 10", "--in", str(source))
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
        pytest.param(
            ["export", "contacts", "--out", "{tmp}/o", "--filter", "colour=red"],
            2,
            "unknown filter",
            id="unknown-filter",
        ),
        pytest.param(["export", "contacts", "--out", "{tmp}/o", "--api-key", "wrong"], 3, "401", id="bad-key"),
        pytest.param(
            ["export", "contacts", "--out", "{tmp}/o", "--api-key", "has space"], 2, "whitespace", id="malformed-key"
        ),
        pytest.param(
            ["import", "contacts", "--in", "{tmp}/in.jsonl", "--reconcile", "--match", "phone"],
            2,
            "fields with a list filter: email",
            id="unsupported-match",
        ),
        pytest.param(
            ["import", "companies", "--in", "{tmp}/in.jsonl", "--reconcile", "--match", "name"],
            2,
            "none",
            id="no-filter-to-match",
        ),
        pytest.param(
            ["import", "contacts", "--in", "{tmp}/in.jsonl", "--match", "email"],
            2,
            "go together",
            id="match-without-reconcile",
        ),
    ],
)
async def test_bad_arguments_give_one_line_errors(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    """Expected failures print a short error (no traceback) and a distinct exit code."""
    (tmp_path / "in.jsonl").write_text('{"firstName": "A"}\n')
    async with Simulator(records=1) as sim:
        argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
        if "--api-key" not in argv:
            argv += ["--api-key", sim.api_key]
        actual, text = (
            await _run(*argv, "--base-url", sim.url) if argv[0] == "export" and "--out" in argv else await _run(*argv)
        )
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
    code, text = await _run("demo", "--export", "--records", "300", "--page-size", "100", "--out", str(out))
    assert code == 0, text
    assert len(_ids(out)) == 300 and "0 429s" in text


async def test_demo_syncs_every_resource_into_duckdb(tmp_path: Path) -> None:
    """``salescaling demo`` syncs every resource of the embedded simulator into DuckDB, 0 429s."""
    import duckdb

    code, text = await _run("demo", "--records", "120", "--out", str(tmp_path))
    assert code == 0, text
    assert "and 0 429s" in text
    with duckdb.connect(str(tmp_path / "salescaling.duckdb"), read_only=True) as db:
        for table in (
            "calls",
            "contacts",
            "companies",
            "meetings",
            "opportunities",
            "calendars",
            "calendar_events",
            "users",
            "voice_agents",
        ):
            (count,) = db.execute(f"select count(*) from {table} where _dlt_valid_to is null").fetchone()  # type: ignore[misc]
            assert count == 120, table


# -- import hardening (signals, refused keys, bad files) and CLI polish -------------------------------


def _deals(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"name": f"Deal {i:04d}", "amount": i}) + "\n" for i in range(n)))
    return path


def _entries(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_import_interrupted_then_reconciled_creates_each_line_once(tmp_path: Path, signum: int) -> None:
    """A signal mid-import writes ``ambiguous`` for every line in flight; a plain rerun resends
    none of them; ``--reconcile --match name`` then finishes with every line created once."""
    source = _deals(tmp_path / "in.jsonl", 120)
    results = tmp_path / "in.jsonl.results.jsonl"
    slow = Fault("latency", probability=1.0, methods={"POST"}, latency=0.2)
    async with Simulator(records=0, faults=[slow], time_scale=10) as sim:
        base = _cli(sim, "import opportunities --concurrency 4 --time-scale 10", "--in", str(source))
        proc = await asyncio.create_subprocess_exec(
            SCRIPT, *base, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        await until(
            lambda: results.exists() and len(results.read_text().splitlines()) >= 8,
            "some results",
            timeout=120,
            interval=0.05,
        )
        proc.send_signal(signum)
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 128 + signum, out.decode()
        assert "interrupted" in out.decode() and "Traceback" not in out.decode()
        first = _entries(results)
        lines = [e["line"] for e in first]
        assert len(lines) == len(set(lines))
        in_flight = [e for e in first if e["status"] == "ambiguous"]
        assert in_flight and all(e["error"] == "cancelled in flight" for e in in_flight)
        # the server finishes the requests it was holding; then count what exists
        await until(
            lambda: sim.stats().accepted == sim._fault_counts[0], "the server to settle", timeout=120, interval=0.05
        )
        created = len(sim.store.data["opportunities"])
        assert created >= sum(e["status"] == "created" for e in first)

        sim.faults = ()
        code, text = await _run(*base)  # a plain rerun: never resends an ambiguous line
        assert code == 1 and "--reconcile" in text, text
        names = [o["name"] for o in sim.store.data["opportunities"]]
        assert len(names) == len(set(names))
        code, text = await _run(*base, "--reconcile", "--match", "name")
        assert code == 0, text
        assert "120/120 rec" in text  # the last frame counts skipped and settled lines once
        names = [o["name"] for o in sim.store.data["opportunities"]]
        assert sorted(names) == [f"Deal {i:04d}" for i in range(120)]  # each exactly once
        final = _entries(results)
        assert [e["line"] for e in final] == list(range(1, 121))
        assert {e["status"] for e in final} == {"created"}


async def test_import_with_a_refused_key_stops_at_once(tmp_path: Path) -> None:
    """A 403 stops the import at once with exit 3: only the lines in flight were sent."""
    from salescaling_async.testing import SimKey

    source = _deals(tmp_path / "in.jsonl", 300)
    async with Simulator(records=0, keys={"sk_ro": SimKey(scopes={"opportunities:read"})}, time_scale=10) as sim:
        code, text = await _run(
            *_cli(sim, "import opportunities --concurrency 4 --time-scale 10", "--in", str(source), key="sk_ro")
        )
        assert code == 3, text
        assert "403" in text and "Traceback" not in text
        assert sim.stats("sk_ro").forbidden <= 4 + 8  # at most the concurrency window, not 300
        assert sim.store.data["opportunities"] == []


async def test_import_refuses_a_non_utf8_file_and_accepts_a_bom(tmp_path: Path) -> None:
    """A Latin-1 file is one error line with exit 2 and nothing sent; a BOM is fine."""
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"name": "Deal A"}\n{"name": "Deal B"}\n{"name": "Caf\xe9"}\n')
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"name": "Deal A"}\n{"name": "Deal B"}\n')
    async with Simulator(records=0, limits=None) as sim:
        code, text = await _run(*_cli(sim, "import opportunities", "--in", str(latin)))
        assert code == 2, text
        assert "not UTF-8" in text and "input line 3" in text and "Traceback" not in text
        assert len(text.strip().splitlines()) == 1
        assert sim.stats().accepted == 0
        code, text = await _run(*_cli(sim, "import opportunities", "--in", str(bom)))
        assert code == 0, text
        assert sorted(o["name"] for o in sim.store.data["opportunities"]) == ["Deal A", "Deal B"]
        assert "requests in" in text and "% of what the key allowed" in text
        assert "2/2 rec" in text  # the last progress frame shows the totals


async def test_import_help_describes_the_input() -> None:
    """``import --help`` says what a line of input is."""
    code, text = await _run("import", "--help")
    assert code == 0
    assert "one JSON object per line" in text and "field names" in text and "--reconcile" in text


@pytest.mark.parametrize(
    ("checkpoint", "output", "needle"),
    [
        pytest.param(
            {"resource": "contacts", "filters": {}, "page_size": 10, "next_page": 3, "offset": 500, "records": 20},
            None,
            "is missing",
            id="output-missing",
        ),
        pytest.param(
            {"resource": "contacts", "filters": {}, "page_size": 10, "next_page": 3, "offset": 500, "records": 20},
            b"x" * 100,
            "only 100 bytes",
            id="output-shorter",
        ),
        pytest.param(
            {"resource": "contacts", "filters": {}, "page_size": "10", "next_page": 3, "offset": 0, "records": 20},
            b"",
            "page_size must be an integer",
            id="wrong-type",
        ),
        pytest.param({"resource": "contacts"}, b"", "fields must be", id="missing-fields"),
        pytest.param([1, 2], b"", "not a JSON object", id="not-an-object"),
    ],
)
async def test_export_refuses_a_checkpoint_it_cannot_trust(
    tmp_path: Path, checkpoint: object, output: bytes | None, needle: str
) -> None:
    """A checkpoint whose output is missing/short, or with bad fields: one line naming --restart."""
    out = tmp_path / "c.jsonl"
    (tmp_path / "c.jsonl.checkpoint").write_text(json.dumps(checkpoint))
    if output is not None:
        out.write_bytes(output)
    async with Simulator(records={"contacts": 30}, limits=None) as sim:
        args = _cli(sim, "export contacts --page-size 10", "--out", str(out))
        code, text = await _run(*args)
        assert code == 2, text
        assert needle in text and "--restart" in text and "Traceback" not in text
        assert len(text.strip().splitlines()) == 1
        assert sim.stats().accepted == 0
        code, text = await _run(*args, "--restart")
        assert code == 0, text
        assert len(_ids(out)) == 30


async def test_server_text_is_printed_escaped(tmp_path: Path) -> None:
    """Rich markup and terminal escapes in a server message are shown, not interpreted."""
    from aiohttp import web

    from tests.conftest import serve

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"statusCode": 401, "message": "bad [/] key \x1b[31mred\x1b[0m [bold]x"}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    async with serve(app) as url:
        code, text = await _run(
            "export", "contacts", "--out", str(tmp_path / "o"), "--api-key", "sk_x", "--base-url", url + "/api/v1/"
        )
    assert code == 3, text
    assert "\x1b" not in text and "[/]" in text and "[bold]" in text and "\\x1b[31m" in text
    assert "Traceback" not in text and "MarkupError" not in text


async def test_simulate_serves_faults_and_scopes_and_stops_quietly() -> None:
    """``simulate --fault --scopes`` applies both; Ctrl-C ends it with exit 0 and no resume hint."""
    from salescaling_async import AsyncSalescaling, PermissionDeniedError, ServerError
    from salescaling_async.testing import no_retries

    proc = await asyncio.create_subprocess_exec(
        SCRIPT,
        "simulate",
        "--port",
        "0",
        "--records",
        "5",
        "--fault",
        "status:1.0:502",
        "--scopes",
        "contacts:read",
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    banner = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    url = banner.split(" on ", 1)[1].split()[0]
    key = banner.rsplit("key: ", 1)[1].strip()
    async with AsyncSalescaling(key, base_url=url, retry=no_retries()) as client:
        with pytest.raises(ServerError) as info:
            await client.contacts.list().first_page()
        assert info.value.status_code == 502
    async with AsyncSalescaling(key, base_url=url, retry=no_retries()) as client:
        with pytest.raises(PermissionDeniedError):
            await client.opportunities.list().first_page()
    proc.send_signal(signal.SIGINT)
    rest = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
    assert await proc.wait() == 0
    assert "interrupted" not in rest and "resume" not in rest and "Traceback" not in rest


async def test_demo_removes_its_temporary_folder(tmp_path: Path) -> None:
    """Without --out, ``demo --export`` exports into a temporary folder and removes it afterwards."""
    code, text = await _run("demo", "--export", "--records", "60", "--page-size", "60", env={"TMPDIR": str(tmp_path)})
    assert code == 0, text
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 - the subprocess has exited
    assert "removed" in text and "requests in" in text


def test_results_book_keeps_the_last_entry_per_line(tmp_path: Path) -> None:
    """Compaction keeps the last entry per line, sorted, drops torn lines, and retried errors."""
    from salescaling_async.cli._import import ResultsBook

    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"line": 2, "status": "ambiguous", "error": "x"}\n{"line": 1, "status": "created", "id": "a"}\n'
        '{"line": 3, "status": "error", "error": "bad"}\n{"line": 2, "status": "created", "id": "b"}\n'
        '{"line": 9, "status": "crea'
    )
    book = ResultsBook(path)
    assert book.latest == {1: "created", 2: "created"} and book.settled(2) and not book.settled(3)
    book.write({"line": 3, "status": "ambiguous", "error": "cancelled in flight"})
    book.write({"line": 3, "status": "created", "id": "c"})
    book.close()
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {"line": 1, "status": "created", "id": "a"},
        {"line": 2, "status": "created", "id": "b"},
        {"line": 3, "status": "created", "id": "c"},
    ]
