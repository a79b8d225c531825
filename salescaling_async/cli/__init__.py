"""The ``salescaling`` command line (extra ``salescaling-async[cli]``: click and rich).

Commands: ``export``, ``import``, ``demo``, ``simulate``, ``limits``.  Expected failures
print one ``error:`` line and exit non-zero; tracebacks are for bugs only.

Exit codes: 0 ok, 1 other failure, 2 bad usage or input, 3 authentication/permission,
4 rate limited, 5 other API error, 130 interrupted by SIGINT and 143 by SIGTERM (resume with
the same command).

Everything that comes from a server (messages, header values) is printed as plain text:
never interpreted as rich markup, with control characters (terminal escapes) shown escaped.

Size: ~430 lines of click command definitions (options and help texts, one command each);
the work behind them lives in ``_console``, ``_import``, ``_jobs`` and ``_sync``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._errors import ConfigError
from .._session import AsyncSalescaling
from ._console import (
    Interrupted,
    err,
    fail,
    make_client,
    on_signals,
    plain,
    progress_bar,
    run_job,
    summary,
    tick,
)
from ._import import check_match, check_utf8, import_records
from ._jobs import EXPORTABLE, IMPORTABLE, Checkpoint, Counters, export

api_key_option = click.option("--api-key", envvar="SALESCALING_API_KEY", help="API key [env SALESCALING_API_KEY]")
base_url_option = click.option("--base-url", envvar="SALESCALING_BASE_URL", help="API base URL")
scale_option = click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    hidden=True,
    help="Scale of the rate windows (against a scaled simulator).",
)


@click.group()
@click.version_option(package_name="salescaling-async")
def main() -> None:
    """Bulk sync jobs against the Salescaling API, at the full rate your key allows."""


@main.command("export")
@click.argument("resource", type=click.Choice(EXPORTABLE))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--filter", "filters", multiple=True, metavar="NAME=VALUE", help="List filter, repeatable.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--prefetch", type=click.IntRange(0, 50), default=2, show_default=True)
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), help="Default: OUT.checkpoint")
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and start over.")
@api_key_option
@base_url_option
@scale_option
def export_cmd(
    resource: str,
    out: Path,
    fmt: str,
    filters: tuple[str, ...],
    page_size: int,
    prefetch: int,
    checkpoint: Path | None,
    restart: bool,
    api_key: str | None,
    base_url: str | None,
    time_scale: float,
) -> None:
    """Stream every record of RESOURCE to a JSON Lines or CSV file, resumably."""
    parsed = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            fail(f"--filter needs NAME=VALUE, got {item!r}", 2)
        parsed[name] = value
    checkpoint = checkpoint or out.with_name(out.name + ".checkpoint")
    if restart:
        checkpoint.unlink(missing_ok=True)
    try:  # before the progress bar: a checkpoint that cannot be trusted is one line, nothing else
        state = Checkpoint.load(checkpoint)
        if state is not None:
            state.check_output(out, checkpoint)
    except ConfigError as exc:
        fail(str(exc), 2)
    run_job(lambda: _export(resource, out, fmt, parsed, page_size, prefetch, checkpoint, api_key, base_url, time_scale))


async def _export(
    resource: str,
    out: Path,
    fmt: Any,
    filters: dict[str, str],
    page_size: int,
    prefetch: int,
    checkpoint: Path,
    api_key: str | None,
    base_url: str | None,
    time_scale: float,
) -> None:
    counters = Counters()
    async with make_client(api_key, base_url, time_scale, counters) as client:
        start = time.monotonic()
        with progress_bar() as progress:
            task = progress.add_task(f"export {resource}", total=None, requests=0, rate=0.0, waits=0, total_text="?")

            async def refresh() -> None:
                while True:
                    tick(progress, task, counters, client, start)
                    await asyncio.sleep(0.2)

            ticker = asyncio.create_task(refresh())
            try:
                await export(
                    client,
                    resource,
                    out,
                    filters=filters,
                    fmt=fmt,
                    page_size=page_size,
                    prefetch=prefetch,
                    checkpoint_path=checkpoint,
                    counters=counters,
                )
            finally:
                ticker.cancel()
                tick(progress, task, counters, client, start)  # the last frame shows the totals
        summary(counters, client, time.monotonic() - start, f"exported {resource}")
        err.print(Text(f"written to {plain(out)}"), soft_wrap=True)


IMPORT_HELP = """Create RESOURCE records from a JSON Lines file, resumably.

\b
Input (--in): UTF-8 text (a byte-order mark is fine), one JSON object per line, keyed by the
API's own field names (camelCase, as in the API reference and in `export` output), e.g.
  {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}
Blank lines are skipped; a line that is not such an object gets an error result naming its
line number and is not sent.

\b
Results (--results, default IN.results.jsonl): one line per input line, the latest:
  {"line": 3, "status": "created", "id": "..."}
  {"line": 4, "status": "error", "error": "..."}       certainly not created; a rerun retries it
  {"line": 5, "status": "ambiguous", "error": "..."}   may exist; never resent blindly
Rerunning the same command continues where the last run stopped and creates nothing twice.
Ctrl-C (or SIGTERM) records every line in flight as ambiguous before exiting.
--reconcile --match FIELD settles ambiguous lines: it looks each record up by FIELD (compared
exactly); found: created; missing: sent once more; several: left ambiguous with candidates.
A key that is refused (401/403) stops the run at once (exit 3).
"""


@main.command("import", help=IMPORT_HELP)
@click.argument("resource", type=click.Choice(list(IMPORTABLE)))
@click.option(
    "--in",
    "source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSON Lines file: one JSON object per line, API field names.",
)
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), help="Default: IN.results.jsonl")
@click.option("--concurrency", type=click.IntRange(1, 200), default=8, show_default=True)
@click.option("--reconcile", is_flag=True, help="Settle ambiguous lines by looking them up (needs --match).")
@click.option(
    "--match",
    "match",
    metavar="FIELD",
    help="API field to look records up by, e.g. email (contacts) or name (opportunities, calendars).",
)
@api_key_option
@base_url_option
@scale_option
def import_cmd(
    resource: str,
    source: Path,
    results: Path | None,
    concurrency: int,
    reconcile: bool,
    match: str | None,
    api_key: str | None,
    base_url: str | None,
    time_scale: float,
) -> None:
    if reconcile != (match is not None):
        fail("--reconcile and --match FIELD go together", 2)
    results = results or source.with_name(source.name + ".results.jsonl")
    try:  # before the progress bar: a bad file or field is one line, nothing else
        if match is not None:
            check_match(resource, match)
        check_utf8(source)
    except ConfigError as exc:
        fail(str(exc), 2)
    counters = Counters()

    async def job() -> None:
        async with make_client(api_key, base_url, time_scale, counters) as client:
            start = time.monotonic()
            with progress_bar() as progress:
                task = progress.add_task(
                    f"import {resource}", total=None, requests=0, rate=0.0, waits=0, total_text="?"
                )

                def redraw() -> None:
                    tick(progress, task, counters, client, start)

                try:
                    await import_records(
                        client,
                        resource,
                        source,
                        results,
                        concurrency=concurrency,
                        counters=counters,
                        match=match,
                        on_progress=redraw,
                    )
                finally:
                    tick(progress, task, counters, client, start)  # the last frame shows the totals
            summary(counters, client, time.monotonic() - start, f"imported {resource}")
            err.print(Text(f"results in {plain(results)}"), soft_wrap=True)
        if counters.unsettled:
            fail(
                f"{counters.unsettled} line(s) may or may not have been created (ambiguous in {results}); "
                "rerun with --reconcile --match FIELD to settle them",
                1,
            )
        if counters.failed:
            fail(f"{counters.failed} line(s) failed; see {results}", 1)

    def interrupted() -> str:
        return (
            f"{counters.ambiguous} line(s) in flight recorded as ambiguous in {results}; rerun the same "
            "command to continue, with --reconcile --match FIELD to settle them"
        )

    run_job(job, on_interrupt=interrupted)


@main.command("demo")
@click.option(
    "--records",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Records per resource (sync, default 2000) or contacts (--export, default 5000).",
)
@click.option("--page-size", type=click.IntRange(1, 1000), default=25, show_default=True, help="With --export.")
@click.option("--export", "export_only", is_flag=True, help="Export contacts to JSON Lines instead of syncing.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Keep the result here: a folder for the DuckDB file, or the export file (default: a temporary "
    "folder, removed afterwards).",
)
def demo_cmd(records: int | None, page_size: int, export_only: bool, out: Path | None) -> None:
    """The main job on an embedded simulator, no key, no network: every resource synced into DuckDB
    (`salescaling sync`, needs the `dlt` extra) and the table counts printed; `--export` exports
    the contacts instead."""
    if not export_only:
        from . import _sync

        try:
            import dlt  # noqa: F401 - only to check the extra is installed
        except ImportError:
            fail('the demo syncs into DuckDB: pip install "salescaling-async[cli,dlt]" (or use --export)', 2)
        count = records or 2000
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            _sync.demo_sync(count, out)
            return
        with tempfile.TemporaryDirectory(prefix="salescaling-demo-") as folder:
            _sync.demo_sync(count, Path(folder))
        err.print("the temporary database was removed; pass --out FOLDER to keep it")
        return
    records = records or 5000
    from ..testing import Simulator

    async def job(target: Path) -> None:
        async with Simulator(records={"contacts": records}) as sim:
            err.print(f"simulator on {sim.url} with {records:,} contacts (real limits: 20/s, 200/10 s, 1000/min)")
            await _export(
                "contacts",
                target,
                "jsonl",
                {},
                page_size,
                2,
                target.with_name(target.name + ".checkpoint"),
                sim.api_key,
                sim.url,
                1.0,
            )
            stats = sim.stats()
            err.print(f"server saw {stats.accepted} accepted requests and {stats.rejected} 429s")

    if out is not None:
        run_job(lambda: job(out))
        return
    with tempfile.TemporaryDirectory(prefix="salescaling-demo-") as folder:
        run_job(lambda: job(Path(folder) / "contacts.jsonl"))
        err.print("the temporary export was removed; pass --out FILE to keep it")


def _parse_fault(spec: str) -> Any:
    """``KIND[:PROBABILITY[:VALUE]]``: VALUE is the status of ``status``/``status_after``
    (default 500) and the seconds of ``latency``/``retry_after`` (default 1).
    E.g. ``status:0.05:503``, ``latency:1:0.2``, ``reset_after:0.01``."""
    from ..testing import Fault

    kind, _, rest = spec.partition(":")
    probability, _, value = rest.partition(":")
    kinds = ("status", "status_after", "retry_after", "latency", "reset_before", "reset_after", "truncated", "non_json")
    if kind not in kinds:
        raise click.BadParameter(f"{kind!r} is not one of {', '.join(kinds)}", param_hint="--fault")
    try:
        chance = float(probability or "0.05")
        if kind in ("status", "status_after"):
            code = int(value or "500")
            if not 400 <= code <= 599:
                raise ValueError
            return Fault(kind, probability=chance, status=code)  # type: ignore[arg-type]
        seconds = float(value or "1")
        if not 0 <= chance <= 1 or not 0 <= seconds <= 3600:
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{spec!r}: expected KIND[:PROBABILITY 0..1[:STATUS 400..599 or SECONDS]]", param_hint="--fault"
        ) from None
    return Fault(kind, probability=chance, latency=seconds, retry_after=seconds)  # type: ignore[arg-type]


@main.command("simulate")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--records", type=click.IntRange(0, 1_000_000), default=100, show_default=True)
@click.option("--time-scale", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND[:P[:VALUE]]",
    help="Inject a fault with probability P (default 0.05), repeatable: status, status_after "
    "(VALUE: the status, default 500), latency, retry_after (VALUE: seconds, default 1), "
    "reset_before, reset_after, truncated, non_json.",
)
@click.option("--scopes", metavar="SCOPE,...", help="Scopes of the key (default: every scope).")
def simulate_cmd(
    port: int, host: str, records: int, time_scale: float, seed: int, faults: tuple[str, ...], scopes: str | None
) -> None:
    """Run the Salescaling API simulator until Ctrl-C (then exit quietly)."""
    from .._endpoints import SCOPES
    from ..testing import Simulator
    from ..testing._simulator import DEFAULT_KEY, SimKey

    parsed = [_parse_fault(spec) for spec in faults]
    keys = None
    if scopes is not None:
        wanted = {s.strip() for s in scopes.split(",") if s.strip()}
        unknown = wanted - SCOPES
        if unknown or not wanted:
            fail(f"unknown scopes {sorted(unknown)}; known: {', '.join(sorted(SCOPES))}", 2)
        keys = {DEFAULT_KEY: SimKey(scopes=wanted)}  # type: ignore[arg-type]  # the converter freezes it

    async def job() -> None:
        async with Simulator(
            host=host, port=port, records=records, time_scale=time_scale, seed=seed, faults=parsed, keys=keys
        ) as sim:
            click.echo(f"Salescaling simulator on {sim.url}  key: {sim.api_key}", err=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(on_signals(job))
    except (KeyboardInterrupt, Interrupted):
        return  # stopping the simulator is the normal way to end it
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}", 1)


@main.command("limits")
@click.option("--path", default="users", show_default=True, help="Endpoint to probe with one GET.")
@api_key_option
@base_url_option
def limits_cmd(path: str, api_key: str | None, base_url: str | None) -> None:
    """Send one request and print the key's rate-limit headers as a table."""

    async def job() -> None:
        async with AsyncSalescaling(api_key, base_url=base_url) as client:
            envelope = await client.request("GET", path, params={"limit": 1})
        table = Table(title=Text(plain(f"rate limits seen on GET {path}")))
        for column in ("window", "limit", "remaining", "reset (s)"):
            table.add_column(column)
        names = sorted({k.rsplit("-", 1)[1] for k in envelope.headers if k.startswith("x-ratelimit-limit-")})
        for name in names:
            h = envelope.headers
            cells = (
                name,
                h.get(f"x-ratelimit-limit-{name}", "?"),
                h.get(f"x-ratelimit-remaining-{name}", "?"),
                h.get(f"x-ratelimit-reset-{name}", "?"),
            )
            table.add_row(*(Text(plain(c)) for c in cells))
        Console(highlight=False).print(table if names else Text("the server sent no rate-limit headers"))

    run_job(job)


from . import _sync  # noqa: E402, F401 - registers `salescaling sync` (needs these names defined)
