"""``salescaling sync``: every resource into a database through dlt (extra ``[cli,dlt]``).

Registered on the ``salescaling`` group by one import at the end of ``cli/__init__.py``.
dlt is imported when the command runs, so the rest of the CLI works without the extra.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._config import RateLimits
from .._errors import (
    APIStatusError,
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    RateLimitedError,
    SalescalingError,
)
from ..integrations._dlt_schema import RESOURCES
from . import api_key_option, base_url_option, main, scale_option
from ._console import err
from ._console import fail as _fail

# Each resource by its table name and by its CLI spelling (``calendar-events``).
_CHOICES = tuple(dict.fromkeys(spelling for name in RESOURCES for spelling in (name, name.replace("_", "-"))))


@main.command("sync")
@click.argument("resources", nargs=-1, type=click.Choice(_CHOICES), metavar="[RESOURCE]...")
@click.option(
    "--destination",
    default="duckdb",
    show_default=True,
    help="A dlt destination name; duckdb writes ./salescaling.duckdb. Credentials the dlt way "
    "(environment or .dlt/secrets.toml).",
)
@click.option(
    "--dataset",
    help="Dataset (schema) name [default: salescaling; in the default DuckDB file: main, "
    "as DuckDB cannot tell a schema from a file of the same name]",
)
@click.option("--full-refresh", is_flag=True, help="Drop the resources' tables and history, then load anew.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option(
    "--pipelines-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where dlt keeps the sync's state, one pipeline per database and dataset "
    "(default: dlt's own, ~/.dlt/pipelines).",
)
@api_key_option
@base_url_option
@scale_option
def sync_cmd(
    resources: tuple[str, ...],
    destination: str,
    dataset: str | None,
    full_refresh: bool,
    page_size: int,
    pipelines_dir: Path | None,
    api_key: str | None,
    base_url: str | None,
    time_scale: float,
) -> None:
    """Load RESOURCE tables (default: all) into a database: new rows added, changed ones
    versioned, deleted ones closed (SCD2).  Safe to stop and rerun.

    RESOURCE: calls, contacts, companies, meetings, opportunities, calendars,
    calendar-events, users, voice-agents.
    """
    try:
        import dlt  # noqa: F401 - only to check the extra is installed
    except ImportError:
        _fail("salescaling sync needs dlt: pip install 'salescaling-async[cli,dlt]'", 2)
    try:
        _sync(resources, destination, dataset, full_refresh, page_size, pipelines_dir, api_key, base_url, time_scale)
    except KeyboardInterrupt:
        _fail("interrupted: nothing of this scan was loaded; run the same command again", 130)
    except Exception as exc:  # noqa: BLE001 - dlt wraps every failure; unwrap it to one line
        _fail_with(exc)


def _sync(
    resources: tuple[str, ...],
    destination: str,
    dataset: str | None,
    full_refresh: bool,
    page_size: int,
    pipelines_dir: Path | None,
    api_key: str | None,
    base_url: str | None,
    time_scale: float,
    folder: Path | None = None,
) -> str:
    """Run one sync and print its summary; returns where it loaded (the DuckDB file's path)."""
    import dlt

    from ..integrations import _dlt_run
    from ..integrations.dlt import SyncMonitor, check_resources, salescaling_source

    logging.getLogger("dlt").setLevel(logging.ERROR)  # dlt's hints are for pipeline authors
    names = check_resources(resources or None)
    monitor = SyncMonitor()
    limits = RateLimits().scaled(time_scale) if time_scale != 1 else None
    source = salescaling_source(api_key, base_url, names, limits=limits, page_size=page_size, monitor=monitor)
    target: Any = destination
    where = destination
    if destination == "duckdb":
        path = (folder or Path.cwd()) / f"{_dlt_run.PIPELINE_NAME}.duckdb"
        target, where = dlt.destinations.duckdb(str(path)), str(path)
        dataset = dataset or _dlt_run.DUCKDB_DATASET
        if dataset == path.stem:
            raise ConfigError(f"in DuckDB the dataset cannot be named like the file ({path.name}); pick another")
    dataset = dataset or _dlt_run.DATASET_NAME
    pipeline = _dlt_run.make_pipeline(
        target, dataset, str(pipelines_dir) if pipelines_dir else None, _dlt_run.pipeline_name(where, dataset)
    )
    with _progress(names) as (progress, tasks):
        monitor.on_page = lambda resource, count: progress.update(
            tasks[resource], advance=count, total=monitor.totals.get(resource)
        )
        with _stopped_by_sigint(monitor):
            result = _dlt_run.run(pipeline, source, names, monitor, full_refresh=full_refresh)
        for name in names:
            progress.update(tasks[name], total=monitor.records.get(name, 0), completed=monitor.records.get(name, 0))
    _summary(result, limits or RateLimits(), f"synced into {where} (dataset {dataset})")
    return where


def demo_sync(records: int, folder: Path) -> None:
    """The main job on an embedded simulator: every resource into DuckDB, then its table counts."""
    import duckdb

    from ..testing import Simulator, simulator_in_thread

    with simulator_in_thread(Simulator(records=records)) as sim:
        err.print(f"simulator on {sim.url}: {records:,} records per resource, real limits (20/s, 200/10 s, 1000/min)")
        where = _sync((), "duckdb", None, False, 100, folder / "pipelines", sim.api_key, sim.url, 1.0, folder)
        stats = sim.stats()
    table = Table(title=f"tables in {Path(where).name}", title_justify="left")
    table.add_column("table")
    table.add_column("current rows", justify="right")
    with duckdb.connect(where, read_only=True) as db:
        rows = db.execute("select table_name from information_schema.tables where table_schema = 'main'").fetchall()
        for name in sorted(n for (n,) in rows if not n.startswith("_dlt") and "__" not in n):
            (count,) = db.execute(f'select count(*) from "{name}" where _dlt_valid_to is null').fetchone() or (0,)
            table.add_row(name, f"{count:,}")
    err.print(table)
    err.print(f"server saw {stats.accepted} accepted requests and {stats.rejected} 429s")


@contextlib.contextmanager
def _stopped_by_sigint(monitor: Any) -> Iterator[None]:
    """SIGINT stops the run for sure: it raises KeyboardInterrupt in the main thread, as
    Python's own handler does, and also tells every scan to stop at its next page (with
    ``_ScanStopped``, which fails the run like any scan error and exits as interrupted).

    The interrupt raised in the main thread can land where it is swallowed: in a generator
    finalized inside dlt's wait for its extract threads ("Exception ignored in: <generator
    object as_completed>"), after which the run went on and loaded the scan.  The scans'
    own stop makes the run end with the interrupt all the same; the swallowed one is not
    printed.  Outside the main thread (no signals there) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(_signum: int, _frame: Any) -> None:
        monitor._stopping.set()
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        if not (isinstance(info.exc_type, type) and issubclass(info.exc_type, KeyboardInterrupt)):
            previous_hook(info)

    previous, previous_hook = signal.signal(signal.SIGINT, on_sigint), sys.unraisablehook
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


@contextlib.contextmanager
def _progress(names: tuple[str, ...]) -> Iterator[tuple[Progress, dict[str, Any]]]:
    """A rich progress display with one line per resource (updates are thread-safe)."""
    progress = Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(bar_width=16),
        TextColumn("{task.completed:>9,.0f} records"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks = {name: progress.add_task(name, total=None) for name in names}
    with progress:
        yield progress, tasks


def _summary(result: Any, limits: RateLimits, title: str) -> None:
    table = Table(title=title)
    for column in ("table", "records", "rows", "new", "changed", "deleted"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for r in result.resources:
        table.add_row(r.name, f"{r.records:,}", f"{r.rows:,}", f"{r.new:,}", f"{r.changed:,}", f"{r.deleted:,}")
    err.print(table)
    scan = result.scan_seconds
    ceiling = limits.ceiling(scan) if scan > 0 else 0
    share = f" in a {scan:.1f}s scan, {result.requests / ceiling:.0%} of the key's ceiling" if ceiling else ""
    err.print(
        f"requests {result.requests:,}{share}   429s {result.rate_limited}   retries {result.retries}   "
        f"wall time {result.seconds:.1f}s",
        highlight=False,
    )
    if result.finished_pending:
        err.print("(first finished loading the scan a previous, stopped run had completed)")


def _root_cause(exc: BaseException) -> BaseException:
    """The first SDK error or interrupt inside dlt's wrappers, else the innermost error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (SalescalingError, KeyboardInterrupt)):
            return current
        last = current
        inner = getattr(current, "exception", None)
        current = inner if isinstance(inner, BaseException) else (current.__cause__ or current.__context__)
    return last


def _fail_with(exc: BaseException) -> None:
    from ..integrations.dlt import _ScanStopped  # (dlt is installed: the sync ran)

    cause = _root_cause(exc)
    if isinstance(cause, (KeyboardInterrupt, _ScanStopped)):
        _fail("interrupted: nothing of this scan was loaded; run the same command again", 130)
    if isinstance(cause, (AuthenticationError, PermissionDeniedError)):
        _fail(str(cause), 3)
    if isinstance(cause, RateLimitedError):
        _fail(f"{cause} (retry after {cause.retry_after}s)", 4)
    if isinstance(cause, APIStatusError):
        _fail(str(cause), 5)
    if isinstance(cause, ConfigError):
        _fail(str(cause), 2)
    first_line = (str(cause).strip().splitlines() or [""])[0]
    _fail(f"{type(cause).__name__}: {first_line}", 1)
