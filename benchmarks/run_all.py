"""Run every benchmark against the simulator; write benchmarks/results/RESULTS.md and the plot.

nox -s bench        (or: python -m benchmarks.run_all)
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

from . import (
    bench_bulk,
    bench_cache,
    bench_efficiency,
    bench_fleet,
    bench_interactive,
    bench_overhead,
    bench_pagination,
    bench_redis,
    bench_response_limits,
    bench_scheduler,
    bench_simulator,
    bench_sync,
    bench_webapp,
)

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    sections = []
    modules = (
        bench_efficiency,
        bench_scheduler,
        bench_pagination,
        bench_simulator,
        bench_redis,
        bench_fleet,
        bench_interactive,
        bench_response_limits,
        bench_cache,
        bench_webapp,
        bench_sync,
        bench_bulk,
        bench_overhead,
    )
    for module in modules:
        started = time.monotonic()
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        section = module.run(RESULTS)
        print(section, flush=True)
        sections.append(section + f"\n_{module.__name__}: {time.monotonic() - started:.0f} s_\n")
    header = (
        "# Benchmark results\n\n"
        f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
        "client and simulator share one machine.\n\n![throughput](throughput.png)\n\n"
    )
    (RESULTS / "RESULTS.md").write_text(header + "\n".join(sections))
    print(f"wrote {RESULTS / 'RESULTS.md'} and {RESULTS / 'throughput.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
