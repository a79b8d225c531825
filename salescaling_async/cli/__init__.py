"""The ``salescaling`` command line (extra ``salescaling-async[cli]``: click and rich).

Commands: ``export``, ``import``, ``demo``, ``simulate``, ``limits``.  Expected failures
print one ``error:`` line and exit non-zero; tracebacks are for bugs only.

Exit codes: 0 ok, 1 other failure, 2 bad usage or input, 3 authentication/permission,
4 rate limited, 5 other API error, 130 interrupted (resume with the same command).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
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
from .._session import AsyncSalescaling
from ._jobs import EXPORTABLE, IMPORTABLE, Counters, export, import_records

T = TypeVar("T")
err = Console(stderr=True)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a job, turning expected errors into one line and an exit code."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to resume", 130)
    except (AuthenticationError, PermissionDeniedError) as exc:
        _fail(str(exc), 3)
    except RateLimitedError as exc:
        _fail(f"{exc} (retry after {exc.retry_after}s)", 4)
    except APIStatusError as exc:
        _fail(str(exc), 5)
    except ConfigError as exc:
        _fail(str(exc), 2)
    except (SalescalingError, OSError) as exc:
        _fail(f"{type(exc).__name__}: {exc}", 1)
    raise AssertionError("unreachable")  # pragma: no cover


def _client(api_key: str | None, base_url: str | None, time_scale: float, counters: Counters) -> AsyncSalescaling:
    limits = RateLimits().scaled(time_scale) if time_scale != 1 else None
    return AsyncSalescaling(api_key, base_url=base_url, limits=limits, on_event=counters.on_event)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=16),
        TextColumn("{task.completed:,.0f}/{task.fields[total_text]} rec"),
        TextColumn("{task.fields[requests]} req {task.fields[rate]:.0f} rec/s waits {task.fields[waits]}"),
        TimeRemainingColumn(compact=True),
        console=err,
        transient=False,
    )


def _summary(counters: Counters, client: AsyncSalescaling, elapsed: float, title: str) -> None:
    stats = client.statistics()
    ceiling = client.scheduler.limits.ceiling(elapsed)
    table = Table(title=title, show_header=False)
    rows = [
        ("records", f"{counters.records:,}"),
        ("requests", f"{stats.granted:,}"),
        ("429s", str(counters.rate_limited)),
        ("retries", str(counters.retries)),
        ("throttle waits", f"{counters.throttle_waits} ({counters.throttle_seconds:.1f}s)"),
        ("elapsed", f"{elapsed:.1f}s"),
        ("rate", f"{stats.granted / elapsed if elapsed else 0:.1f} req/s "
                 f"({stats.granted / ceiling if ceiling else 0:.0%} of the {ceiling:,}-request ceiling)"),
    ]  # fmt: skip
    if counters.failed or counters.skipped:
        rows += [("failed", str(counters.failed)), ("skipped", str(counters.skipped))]
    for name, value in rows:
        table.add_row(name, value)
    err.print(table)


api_key_option = click.option("--api-key", envvar="SALESCALING_API_KEY", help="API key [env SALESCALING_API_KEY]")
base_url_option = click.option("--base-url", envvar="SALESCALING_BASE_URL", help="API base URL")
scale_option = click.option("--time-scale", type=float, default=1.0, show_default=True, hidden=True,
                            help="Scale of the rate windows (against a scaled simulator).")  # fmt: skip


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
def export_cmd(resource: str, out: Path, fmt: str, filters: tuple[str, ...], page_size: int, prefetch: int,
               checkpoint: Path | None, restart: bool, api_key: str | None, base_url: str | None,
               time_scale: float) -> None:  # fmt: skip
    """Stream every record of RESOURCE to a JSON Lines or CSV file, resumably."""
    parsed = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            _fail(f"--filter needs NAME=VALUE, got {item!r}", 2)
        parsed[name] = value
    checkpoint = checkpoint or out.with_name(out.name + ".checkpoint")
    if restart:
        checkpoint.unlink(missing_ok=True)
    _run(lambda: _export(resource, out, fmt, parsed, page_size, prefetch, checkpoint, api_key, base_url, time_scale))


async def _export(resource: str, out: Path, fmt: Any, filters: dict[str, str], page_size: int, prefetch: int,
                  checkpoint: Path, api_key: str | None, base_url: str | None, time_scale: float) -> None:  # fmt: skip
    counters = Counters()
    async with _client(api_key, base_url, time_scale, counters) as client:
        start = time.monotonic()
        with _progress() as progress:
            task = progress.add_task(f"export {resource}", total=None, requests=0, rate=0.0, waits=0, total_text="?")

            async def refresh() -> None:
                while True:
                    elapsed = max(time.monotonic() - start, 1e-6)
                    progress.update(task, completed=counters.records, total=counters.total,
                                    total_text=f"{counters.total:,}" if counters.total else "?",
                                    requests=client.statistics().granted, rate=counters.records / elapsed,
                                    waits=counters.throttle_waits)  # fmt: skip
                    await asyncio.sleep(0.2)

            ticker = asyncio.create_task(refresh())
            try:
                await export(client, resource, out, filters=filters, fmt=fmt, page_size=page_size,
                             prefetch=prefetch, checkpoint_path=checkpoint, counters=counters)  # fmt: skip
            finally:
                ticker.cancel()
        _summary(counters, client, time.monotonic() - start, f"exported {resource} to {out}")


@main.command("import")
@click.argument("resource", type=click.Choice(list(IMPORTABLE)))
@click.option("--in", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), help="Default: IN.results.jsonl")
@click.option("--concurrency", type=click.IntRange(1, 200), default=8, show_default=True)
@api_key_option
@base_url_option
@scale_option
def import_cmd(resource: str, source: Path, results: Path | None, concurrency: int, api_key: str | None,
               base_url: str | None, time_scale: float) -> None:  # fmt: skip
    """Create RESOURCE records from a JSON Lines file; one result line per input line."""
    results = results or source.with_name(source.name + ".results.jsonl")

    async def job() -> None:
        counters = Counters()
        async with _client(api_key, base_url, time_scale, counters) as client:
            start = time.monotonic()
            with _progress() as progress:
                task = progress.add_task(f"import {resource}", total=None, requests=0, rate=0.0, waits=0,
                                         total_text="?")  # fmt: skip

                def tick() -> None:
                    elapsed = max(time.monotonic() - start, 1e-6)
                    progress.update(task, completed=counters.records + counters.failed,
                                    requests=client.statistics().granted, rate=counters.records / elapsed,
                                    waits=counters.throttle_waits)  # fmt: skip

                await import_records(client, resource, source, results, concurrency=concurrency,
                                     counters=counters, on_progress=tick)  # fmt: skip
            _summary(counters, client, time.monotonic() - start, f"imported {resource}; results in {results}")
        if counters.failed:
            _fail(f"{counters.failed} line(s) failed; see {results}", 1)

    _run(job)


@main.command("demo")
@click.option("--records", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 1000), default=25, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: a temporary file")
def demo_cmd(records: int, page_size: int, out: Path | None) -> None:
    """Start the embedded simulator and export its contacts: the main job, no key, no network."""
    from ..testing import Simulator

    async def job() -> None:
        async with Simulator(records={"contacts": records}) as sim:
            err.print(f"simulator on {sim.url} with {records:,} contacts (real limits: 20/s, 200/10 s, 1000/min)")
            target = out or Path(tempfile.mkdtemp(prefix="salescaling-demo-")) / "contacts.jsonl"
            await _export("contacts", target, "jsonl", {}, page_size, 2, target.with_name(target.name + ".checkpoint"),
                          sim.api_key, sim.url, 1.0)  # fmt: skip
            stats = sim.stats()
            err.print(f"server saw {stats.accepted} accepted requests and {stats.rejected} 429s")

    _run(job)


@main.command("simulate")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--records", type=click.IntRange(0, 1_000_000), default=100, show_default=True)
@click.option("--time-scale", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def simulate_cmd(port: int, host: str, records: int, time_scale: float, seed: int) -> None:
    """Run the Salescaling API simulator until interrupted."""
    from ..testing import Simulator

    async def job() -> None:
        async with Simulator(host=host, port=port, records=records, time_scale=time_scale, seed=seed) as sim:
            click.echo(f"Salescaling simulator on {sim.url}  key: {sim.api_key}", err=True)
            await asyncio.Event().wait()

    _run(job)


@main.command("limits")
@click.option("--path", default="users", show_default=True, help="Endpoint to probe with one GET.")
@api_key_option
@base_url_option
def limits_cmd(path: str, api_key: str | None, base_url: str | None) -> None:
    """Send one request and print the key's rate-limit headers as a table."""

    async def job() -> None:
        async with AsyncSalescaling(api_key, base_url=base_url) as client:
            envelope = await client.request("GET", path, params={"limit": 1})
        table = Table(title=f"rate limits seen on GET {path}")
        for column in ("window", "limit", "remaining", "reset (s)"):
            table.add_column(column)
        names = sorted({k.rsplit("-", 1)[1] for k in envelope.headers if k.startswith("x-ratelimit-limit-")})
        for name in names:
            h = envelope.headers
            table.add_row(name, h.get(f"x-ratelimit-limit-{name}", "?"), h.get(f"x-ratelimit-remaining-{name}", "?"),
                          h.get(f"x-ratelimit-reset-{name}", "?"))  # fmt: skip
        Console().print(table if names else "the server sent no rate-limit headers")

    _run(job)


from . import _sync  # noqa: E402, F401 - registers `salescaling sync` (needs these names defined)
