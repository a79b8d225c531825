"""``salescaling sync`` end to end: the API (simulated, scaled limits) into DuckDB through dlt.

1. Records per second for 50,000 contacts, scan plus dlt normalize and load, and the share of
   the key's ceiling the scan used.
2. Every resource in parallel through one client: the share of the key's ceiling during the
   scan (first to last request the server accepted) and the 429s.

    python -m benchmarks.bench_sync
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import dlt

from salescaling_async import RateLimits
from salescaling_async.integrations import _dlt_run
from salescaling_async.integrations.dlt import RESOURCE_NAMES, SyncMonitor, salescaling_source

from ._common import Row, simulator_process, table

SCALE = 20.0  # 50,000 contacts: fast enough that dlt's own work shows in records/s
PARALLEL_SCALE = 5.0  # every resource: slow enough that the key's limits, not our 2 CPUs, bind
KEY = "sk_test_simulator"


def _server_stats(url: str) -> dict[str, Any]:
    origin = url.split("/api/v1/")[0]
    with urllib.request.urlopen(f"{origin}/_simulator/stats", timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())[KEY]
    return stats


def _sync(
    url: str, names: tuple[str, ...], page_size: int, workdir: Path, scale: float
) -> tuple[float, SyncMonitor, Any]:
    monitor = SyncMonitor()
    limits = RateLimits().scaled(scale)
    source = salescaling_source(KEY, url, names, limits=limits, page_size=page_size, monitor=monitor)
    pipeline = _dlt_run.make_pipeline(
        dlt.destinations.duckdb(str(workdir / "salescaling.duckdb")), "main", str(workdir / "pipelines")
    )
    start = time.perf_counter()
    result = _dlt_run.run(pipeline, source, names, monitor, full_refresh=False)
    return time.perf_counter() - start, monitor, result


def _row(case: str, url: str, names: tuple[str, ...], page_size: int, workdir: Path, scale: float) -> Row:
    wall, monitor, result = _sync(url, names, page_size, workdir, scale)
    server = _server_stats(url)
    records = sum(monitor.records.values())
    span = server["span"] or 0.0
    scaled = RateLimits().scaled(scale)
    ceiling = scaled.ceiling(span) if span > 0 else 0
    real = RateLimits()
    real_seconds = next(t for t in range(1, 100_000) if real.ceiling(t) >= server["accepted"])
    return {
        "case": case,
        "limits scale": f"x{scale:g}",
        "records": records,
        "requests": server["accepted"],
        "429s": server["rejected"],
        "end-to-end (s)": wall,
        "records/s end-to-end": records / wall,
        "scan span (s)": span,
        "share of ceiling in scan": f"{server['accepted'] / ceiling:.0%}" if ceiling else "n/a",
        "scan at real limits (s, projected)": real_seconds,
        "rows new": sum(r.new for r in result.resources),
    }


def run(results: Path) -> str:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (SCALE, PARALLEL_SCALE):
            with simulator_process(records={"contacts": 50_000}, time_scale=scale) as url:
                rows.append(
                    _row("50,000 contacts, page 100", url, ("contacts",), 100, Path(tmp) / f"a{scale:g}", scale)
                )
        per = 5_000
        with simulator_process(records=per, time_scale=PARALLEL_SCALE) as url:
            rows.append(
                _row(
                    f"9 resources x {per:,} in parallel, page 25",
                    url,
                    RESOURCE_NAMES,
                    25,
                    Path(tmp) / "b",
                    PARALLEL_SCALE,
                )
            )
    section = table(
        "salescaling sync into DuckDB (simulator and client limits scaled alike; one machine, 2 shared cores)", rows
    )
    section += (
        "\nEnd-to-end includes dlt's normalize and load into DuckDB; the scan span is the time "
        "between the first and the last request the simulator accepted, and the share compares "
        "the requests in it with the most any client could get accepted in that span "
        "(`RateLimits.ceiling`). The projection is the scan's request count at the real limits "
        "(20/s, 200/10 s, 1,000/min). Where the share is low the scan was bound by this machine's "
        "CPU (model conversion, dlt's extract, the simulator), not by the key: at the real limits the "
        "key binds long before that.\n"
    )
    (results / "sync.md").write_text(section)
    return section


if __name__ == "__main__":
    print(run(Path(__file__).parent / "results"))
