"""Output and process plumbing of the command line: safe text, signals, progress, summary.

Strictly private.  Everything from a server is printed through :func:`plain` or as a rich
``Text`` (never parsed as markup), so neither markup nor terminal escapes get through.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

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
from ._jobs import Counters

T = TypeVar("T")
err = Console(stderr=True, highlight=False)


def plain(text: object) -> str:
    """``text`` with every non-printable character (ESC, CR, NUL...) shown as an escape."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def fail(message: str, code: int) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", plain(message)), soft_wrap=True)
    sys.exit(code)


class Interrupted(Exception):
    """Strictly private. SIGINT or SIGTERM arrived; the job cleaned up and stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


async def on_signals(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` so that SIGINT/SIGTERM cancel it (once) and let it write what it must."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        if not received and task is not None:  # a second signal must not cut the cleanup short
            received.append(signum)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await main()
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run_job(main: Callable[[], Awaitable[T]], *, on_interrupt: Callable[[], str] | None = None) -> T:
    """Run a job, turning expected errors into one line and an exit code."""
    try:
        return asyncio.run(on_signals(main))
    except (KeyboardInterrupt, Interrupted) as exc:
        hint = on_interrupt() if on_interrupt else "run the same command again to resume"
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        fail(f"interrupted; {hint}", 128 + signum)
    except (AuthenticationError, PermissionDeniedError) as exc:
        fail(str(exc), 3)
    except RateLimitedError as exc:
        fail(f"{exc} (retry after {exc.retry_after}s)", 4)
    except APIStatusError as exc:
        fail(str(exc), 5)
    except ConfigError as exc:
        fail(str(exc), 2)
    except (SalescalingError, OSError) as exc:
        fail(f"{type(exc).__name__}: {exc}", 1)
    raise AssertionError("unreachable")  # pragma: no cover


def tick(progress: Progress, task: Any, counters: Counters, client: AsyncSalescaling, start: float) -> None:
    elapsed = max(time.monotonic() - start, 1e-6)
    done = counters.records + counters.failed + counters.skipped
    progress.update(
        task,
        completed=done,
        total=counters.total,
        total_text=f"{counters.total:,}" if counters.total else "?",
        requests=client.statistics().granted,
        rate=counters.records / elapsed,
        waits=counters.throttle_waits,
    )


def make_client(api_key: str | None, base_url: str | None, time_scale: float, counters: Counters) -> AsyncSalescaling:
    limits = RateLimits().scaled(time_scale) if time_scale != 1 else None
    return AsyncSalescaling(api_key, base_url=base_url, limits=limits, on_event=counters.on_event)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=16),
        TextColumn("{task.completed:,.0f}/{task.fields[total_text]} rec"),
        TextColumn("{task.fields[requests]} req {task.fields[rate]:.0f} rec/s waits {task.fields[waits]}"),
        TimeRemainingColumn(compact=True),
        console=err,
        transient=False,
    )


def rate_line(requests: int, elapsed: float, allowed: int) -> str:
    """The summary's plain sentence: volume, time, rate and share of the key's allowance."""
    rate = requests / elapsed if elapsed > 0 else 0.0
    share = 100.0 * requests / allowed if allowed else 0.0
    return f"{requests:,} requests in {elapsed:.1f} s, {rate:.1f} req/s, {share:.0f} % of what the key allowed"


def summary(counters: Counters, client: AsyncSalescaling, elapsed: float, title: str) -> None:
    stats = client.statistics()
    table = Table(title=Text(plain(title)), show_header=False)
    rows = [
        ("records", f"{counters.records:,}"),
        ("429s", str(counters.rate_limited)),
        ("retries", str(counters.retries)),
        ("throttle waits", f"{counters.throttle_waits} ({counters.throttle_seconds:.1f} s)"),
    ]
    if counters.failed or counters.skipped:
        rows += [
            ("failed", str(counters.failed - counters.ambiguous)),
            ("ambiguous", str(counters.ambiguous)),
            ("skipped", str(counters.skipped)),
        ]
    for name, value in rows:
        table.add_row(name, value)
    err.print(table)
    err.print(Text(rate_line(stats.granted, elapsed, client.scheduler.limits.ceiling(elapsed))))
