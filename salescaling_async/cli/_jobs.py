"""Bulk jobs behind the command line: export with checkpoints, import with a results file.

Strictly private.  No click or rich here: progress goes through a small callback, so the
jobs are plain async functions that tests and other programs can call too.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import io
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .._convert import _plan, structure, unstructure
from .._endpoints import ENDPOINTS
from .._errors import ConfigError, SalescalingError, TransportError
from .._events import Event, RateLimitHit, RetryScheduled, ThrottleWait
from .._pagination import AsyncPaginator
from .._session import AsyncSalescaling
from ..models import CalendarCreate, CalendarEventCreate, ContactCreate, OpportunityCreate

Format = Literal["jsonl", "csv"]

EXPORTABLE = ("calls", "contacts", "companies", "meetings", "opportunities", "calendars",
              "calendar-events", "users", "voice-agents")  # fmt: skip
IMPORTABLE: dict[str, Any] = {
    "contacts": ContactCreate,
    "opportunities": OpportunityCreate,
    "calendars": CalendarCreate,
    "calendar-events": CalendarEventCreate,
    "companies": None,  # provisional: bodies are sent verbatim
    "meetings": None,
    "voice-agents": None,
}


def resource_of(client: AsyncSalescaling, name: str) -> Any:
    return getattr(client, name.replace("-", "_"))


@attrs.define
class Counters:
    """What a job did, updated live from the client's events."""

    records: int = 0
    pages: int = 0
    throttle_waits: int = 0
    throttle_seconds: float = 0.0
    rate_limited: int = 0
    retries: int = 0
    failed: int = 0
    skipped: int = 0
    total: int | None = None

    def on_event(self, event: Event) -> None:
        if isinstance(event, ThrottleWait):
            self.throttle_waits += 1
            self.throttle_seconds += event.waited
        elif isinstance(event, RateLimitHit):
            self.rate_limited += 1
        elif isinstance(event, RetryScheduled):
            self.retries += 1


# -- export ------------------------------------------------------------------------------------


@attrs.frozen
class Checkpoint:
    """Where an export stopped: the next page and the output size after the last whole page."""

    resource: str
    filters: Mapping[str, str]
    page_size: int
    next_page: int
    offset: int
    records: int

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"unreadable checkpoint {path}: {exc}") from None

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self)))
        os.replace(tmp, path)  # atomic: a crash leaves the old or the new checkpoint


def _csv_columns(model: Any) -> list[str]:
    return [json_name for json_name, _, _ in _plan(model)] + ["extra"]


def _csv_line(columns: list[str], record: Mapping[str, Any]) -> str:
    known = set(columns)
    row = [record.get(c) for c in columns[:-1]]
    extra = {k: v for k, v in record.items() if k not in known}
    cells = [json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else v) for v in row]
    cells.append(json.dumps(extra) if extra else "")
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


async def export(
    client: AsyncSalescaling,
    resource: str,
    out: Path,
    *,
    filters: Mapping[str, str],
    fmt: Format,
    page_size: int,
    prefetch: int,
    checkpoint_path: Path,
    counters: Counters,
) -> None:
    """Stream every record of ``resource`` to ``out``, resumable through ``checkpoint_path``.

    After each whole page the output is flushed and fsynced, then the checkpoint (next page,
    output size) is replaced atomically.  On resume the output is cut back to the size the
    checkpoint recorded, so a crash mid-page neither loses nor duplicates a record.
    """
    if resource not in EXPORTABLE:
        raise ConfigError(f"cannot export {resource!r}; choose one of {', '.join(EXPORTABLE)}")
    state = Checkpoint.load(checkpoint_path)
    if state is not None and (state.resource, dict(state.filters), state.page_size) != (
        resource, dict(filters), page_size
    ):
        raise ConfigError(f"{checkpoint_path} belongs to another export; delete it or pass --restart")
    start_page = state.next_page if state else 1
    counters.records = state.records if state else 0
    res = resource_of(client, resource)
    paginator: AsyncPaginator[Any] = res.list(page_size=page_size, start_page=start_page, prefetch=prefetch,
                                              **_filter_kwargs(res, filters))  # fmt: skip
    mode = "r+b" if state and out.exists() else "wb"  # noqa: ASYNC240 - one stat before the job starts
    with open(out, mode) as fh:  # noqa: ASYNC230 - opening is instant; page writes go to a thread
        if state:
            fh.truncate(state.offset)
            fh.seek(state.offset)
        columns: list[str] = []
        if fmt == "csv":
            columns = _csv_columns(ENDPOINTS[f"{resource.replace('-', '_')}.list"].model)
            if not state:
                fh.write(_csv_line(columns, {c: c for c in columns[:-1]} | {"extra": "extra"}).encode())
        async for page in paginator.pages():
            counters.total = page.count
            lines = []
            for item in page.items:
                record = unstructure(item)
                lines.append(_csv_line(columns, record) if fmt == "csv" else json.dumps(record) + "\n")
            counters.records += len(page.items)
            counters.pages += 1
            # fsync can take milliseconds: keep it off the loop so the scheduler's timers stay on time
            await asyncio.to_thread(_commit_page, fh, "".join(lines).encode(), checkpoint_path,
                                    Checkpoint(resource, dict(filters), page_size, page.number + 1, 0,
                                               counters.records))  # fmt: skip
    checkpoint_path.unlink(missing_ok=True)  # noqa: ASYNC240 - the job is over


def _commit_page(fh: Any, data: bytes, checkpoint_path: Path, checkpoint: Checkpoint) -> None:
    """Make a page durable, then record it: the checkpoint never runs ahead of the file."""
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())
    attrs.evolve(checkpoint, offset=fh.tell()).save(checkpoint_path)


def _filter_kwargs(resource: Any, filters: Mapping[str, str]) -> dict[str, Any]:
    """CLI ``--filter name=value`` (camelCase or snake_case) to the list method's keywords."""
    out: dict[str, Any] = {}
    for name, value in filters.items():
        snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)
        out[snake] = {"true": True, "false": False}.get(value, value)
    accepted = set(inspect.signature(resource.list).parameters) - {"page_size", "start_page", "prefetch", "priority"}
    unknown = set(out) - accepted
    if unknown:
        raise ConfigError(f"unknown filter(s) {sorted(unknown)}; this resource takes {sorted(accepted) or 'none'}")
    return out


# -- import ------------------------------------------------------------------------------------


def _done_lines(results: Path) -> set[int]:
    """Line numbers a previous run settled (created, or possibly created)."""
    done: set[int] = set()
    if results.exists():
        for raw in results.read_text().splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a line cut by a crash: that input is redone
            if entry.get("status") in ("created", "ambiguous"):
                done.add(int(entry["line"]))
    return done


async def _input_lines(path: Path) -> AsyncIterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as fh:  # noqa: ASYNC230 - line reads from a local file are buffered
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


async def import_records(
    client: AsyncSalescaling,
    resource: str,
    source: Path,
    results: Path,
    *,
    concurrency: int,
    counters: Counters,
    on_progress: Callable[[], None] = lambda: None,
) -> None:
    """Create one record per JSON line of ``source`` with at most ``concurrency`` in flight.

    Every input line gets one result line in ``results``: ``created`` with the id,
    ``error`` with the message, or ``ambiguous`` when the connection failed after sending
    (the record may exist; it is not resent).  Lines already ``created`` or ``ambiguous`` in
    ``results`` are skipped, so a rerun completes a partial import without duplicates.
    """
    if resource not in IMPORTABLE:
        raise ConfigError(f"cannot import {resource!r}; choose one of {', '.join(IMPORTABLE)}")
    if concurrency < 1:
        raise ConfigError("concurrency must be >= 1")
    done = _done_lines(results)
    model = IMPORTABLE[resource]
    create = resource_of(client, resource).create
    queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue(maxsize=concurrency * 2)

    with open(results, "a", encoding="utf-8") as out:  # noqa: ASYNC230 - small appends, flushed per line

        def record(entry: dict[str, Any]) -> None:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            on_progress()

        async def worker() -> None:
            while (item := await queue.get()) is not None:
                number, line = item
                record(await _create_one(create, model, number, line, counters))

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            async for number, line in _input_lines(source):
                if number in done:
                    counters.skipped += 1
                    continue
                await queue.put((number, line))
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()


async def _create_one(create: Any, model: Any, number: int, line: str, counters: Counters) -> dict[str, Any]:
    try:
        body = json.loads(line)
        if not isinstance(body, dict):
            raise ConfigError("each line must be a JSON object")
        created = await create(structure(body, model) if model is not None else body)
    except (ValueError, SalescalingError) as exc:
        counters.failed += 1
        status = "ambiguous" if isinstance(exc, TransportError) and exc.sent else "error"
        return {"line": number, "status": status, "error": f"{type(exc).__name__}: {exc}"}
    counters.records += 1
    return {"line": number, "status": "created", "id": getattr(created, "id", None)}
