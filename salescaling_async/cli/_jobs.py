"""Bulk jobs behind the command line: export with checkpoints (import lives in ``_import``).

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from .._convert import _plan, unstructure
from .._endpoints import ENDPOINTS
from .._errors import ConfigError
from .._events import Event, RateLimitHit, RetryScheduled, ThrottleWait
from .._pagination import AsyncPaginator
from .._session import AsyncSalescaling
from ..integrations._dlt_schema import RESOURCES
from ..models import CalendarCreate, CalendarEventCreate, ContactCreate, OpportunityCreate

Format = Literal["jsonl", "csv"]

EXPORTABLE = tuple(name.replace("_", "-") for name in RESOURCES)
"""Every listable resource, as the CLI names them (one registry with the dlt source)."""
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
    ambiguous: int = 0
    unsettled: int = 0  # import: lines whose latest result is ambiguous, this run or earlier
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
        """The checkpoint at ``path``, every field checked; ``ConfigError`` naming ``--restart``."""
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"unreadable checkpoint {path}; pass --restart to start over") from None
        problem = _checkpoint_problem(data)
        if problem:
            raise ConfigError(f"invalid checkpoint {path} ({problem}); pass --restart to start over")
        return cls(**data)

    def check_output(self, out: Path, checkpoint: Path) -> None:
        """Refuse to resume when the output lost data the checkpoint counts on."""
        size = out.stat().st_size if out.exists() else None
        if size is None or size < self.offset:
            found = "is missing" if size is None else f"has only {size:,} bytes"
            raise ConfigError(
                f"{checkpoint} expects {out} to hold {self.offset:,} bytes but it {found}; "
                "pass --restart to export again from the start"
            )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(attrs.asdict(self)))
        os.replace(tmp, path)  # atomic: a crash leaves the old or the new checkpoint


_CHECKPOINT_FIELDS = {
    "resource": str,
    "filters": dict,
    "page_size": int,
    "next_page": int,
    "offset": int,
    "records": int,
}


def _checkpoint_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if set(data) != set(_CHECKPOINT_FIELDS):
        return f"fields must be {', '.join(_CHECKPOINT_FIELDS)}"
    for name, kind in _CHECKPOINT_FIELDS.items():
        value = data[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{name} must be {'an integer' if kind is int else 'a ' + kind.__name__}"
        if isinstance(value, int) and value < (1 if name in ("page_size", "next_page") else 0):
            return f"{name} is out of range"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["filters"].items()):
        return "filters must map names to strings"
    return None


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
        resource,
        dict(filters),
        page_size,
    ):
        raise ConfigError(f"{checkpoint_path} belongs to another export; delete it or pass --restart")
    if state is not None:
        state.check_output(out, checkpoint_path)
    start_page = state.next_page if state else 1
    counters.records = state.records if state else 0
    res = resource_of(client, resource)
    paginator: AsyncPaginator[Any] = res.list(
        page_size=page_size, start_page=start_page, prefetch=prefetch, **_filter_kwargs(res, filters)
    )
    mode = "r+b" if state else "wb"
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
            await asyncio.to_thread(
                _commit_page,
                fh,
                "".join(lines).encode(),
                checkpoint_path,
                Checkpoint(resource, dict(filters), page_size, page.number + 1, 0, counters.records),
            )
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
