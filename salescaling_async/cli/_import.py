"""``salescaling import``: JSON Lines in, one result line per input line, nothing created twice.

Strictly private.  The writes go through the library's own ``create_many`` and
``reconcile`` (so the CLI and library users share one engine); this module only maps input
lines to items and results to result lines.

The results file is the import's memory.  It holds at most one entry per input line, the
latest: ``created`` (with the id), ``error`` (certainly not created: retried by a rerun) or
``ambiguous`` (may exist: never resent blindly; ``--reconcile --match FIELD`` settles it).
A rerun skips ``created`` and ``ambiguous`` lines; the file is compacted (last entry per
line wins, torn lines dropped) atomically at the start and at the end of every run, so a
crash at any point leaves a file a rerun can trust.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .. import _resources
from .._bulk import BulkResult, BulkRun
from .._convert import structure
from .._errors import AuthenticationError, ConfigError, PermissionDeniedError, ResponseValidationError
from .._resources._bulk_mixin import match_keyword
from ._jobs import IMPORTABLE, Counters, resource_of


class InputLineError(ValueError):
    """Strictly private. An input line that is not a JSON object fitting the resource."""


def check_match(resource: str, match: str) -> None:
    """Refuse a ``--match`` field that ``resource`` cannot be reconciled on (nothing sent)."""
    cls = getattr(_resources, "".join(part.title() for part in resource.split("-")))
    match_keyword(cls, match)


def check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Refuse a file that is not UTF-8 before anything is sent (streamed: constant memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            try:
                decoder.decode(data)
            except UnicodeDecodeError as exc:
                line += data[: exc.start].count(b"\n")
                raise ConfigError(
                    f"{path} is not UTF-8 text (input line {line}, byte {exc.object[exc.start]:#04x}); "
                    "convert it first, e.g. with iconv -t utf-8"
                ) from None
            line += data.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text (it ends inside a character)") from None


def input_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their 1-based numbers; a UTF-8 BOM is accepted and dropped."""
    with open(path, encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def parse_line(number: int, text: str, model: Any) -> Any:
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InputLineError(f"input line {number}: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InputLineError(f"input line {number}: expected a JSON object, got {type(body).__name__}")
    if model is None:
        return body
    try:
        return structure(body, model)
    except ResponseValidationError as exc:
        detail = "; ".join(exc.errors) or str(exc)
        raise InputLineError(f"input line {number}: {detail}") from None


class ResultsBook:
    """Strictly private. The results file: latest status per line, appended, compacted.

    Memory is one small int pair per input line: entries stay in the file, and compaction
    copies the last entry of each line by its byte offset.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.latest: dict[int, str] = {}  # line -> latest status
        self.compact(drop_errors=True)  # errors are retried by this run: their new result replaces them
        self._out: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def settled(self, line: int) -> bool:
        return self.latest.get(line) in ("created", "ambiguous")

    def ambiguous(self) -> set[int]:
        return {n for n, status in self.latest.items() if status == "ambiguous"}

    def write(self, entry: dict[str, Any]) -> None:
        self._out.write(json.dumps(entry) + "\n")
        self._out.flush()
        self.latest[entry["line"]] = entry["status"]

    def compact(self, *, drop_errors: bool = False) -> None:
        """Rewrite the file with the last entry of each line, sorted by line, atomically."""
        last: dict[int, tuple[int, str]] = {}  # line -> (byte offset, status)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(self.path, "a+b") as fh, open(tmp, "wb") as out:
            fh.seek(0)
            offset = 0
            for raw in fh:
                entry = _entry(raw.decode("utf-8", errors="replace"))
                if entry is not None:
                    last[entry["line"]] = (offset, entry["status"])
                offset += len(raw)
            self.latest = {}
            for line in sorted(last):
                at, status = last[line]
                if drop_errors and status == "error":
                    continue
                fh.seek(at)
                out.write(fh.readline().rstrip(b"\r\n") + b"\n")
                self.latest[line] = status
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def close(self) -> None:
        self._out.close()
        self.compact()


def _entry(raw: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None  # a line torn by a crash: that input is redone
    ok = (
        isinstance(entry, dict)
        and isinstance(entry.get("line"), int)
        and entry.get("status") in ("created", "error", "ambiguous")
    )
    return entry if ok else None


def result_entry(line: int, result: BulkResult[Any, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"line": line, "status": result.status}
    if result.record is not None:
        entry["id"] = getattr(result.record, "id", None)
    if result.error is not None:
        error = result.error
        entry["error"] = (
            "cancelled in flight" if isinstance(error, asyncio.CancelledError) else (f"{type(error).__name__}: {error}")
        )
    if result.candidates:
        entry["candidates"] = [getattr(c, "id", None) for c in result.candidates]
    return entry


async def import_records(
    client: Any,
    resource: str,
    source: Path,
    results: Path,
    *,
    concurrency: int,
    counters: Counters,
    match: str | None = None,
    on_progress: Callable[[], None] = lambda: None,
) -> None:
    """Create one record per JSON line of ``source``; settle ambiguous lines if ``match``.

    Raises:
        ConfigError: Bad arguments or a file that is not UTF-8 (nothing sent).
        AuthenticationError, PermissionDeniedError: The key was refused; the run stopped
            taking lines at once (the lines in flight got their result lines).
        asyncio.CancelledError: Interrupted; every line in flight got an ``ambiguous``
            result line first.
    """
    if resource not in IMPORTABLE:
        raise ConfigError(f"cannot import {resource!r}; choose one of {', '.join(IMPORTABLE)}")
    res = resource_of(client, resource)
    if match is not None:
        check_match(resource, match)  # an unsupported field fails now, before any write
    check_utf8(source)
    book = ResultsBook(results)
    try:
        job = _Job(res, IMPORTABLE[resource], book, counters, on_progress)
        for number, _ in input_lines(source):
            counters.total = (counters.total or 0) + 1
            counters.skipped += book.settled(number)
        await job.drive(res.create_many(job.items(source, lambda n: not book.settled(n)), concurrency=concurrency))
        if match is not None and job.refused is None and book.ambiguous():
            pending = book.ambiguous()
            counters.skipped -= len(pending - job.seen_ambiguous)  # earlier runs' lines: settled now
            await job.drive(
                res.reconcile(job.items(source, pending.__contains__), match=match, concurrency=concurrency)
            )
        if job.refused is not None:
            raise job.refused
    finally:
        counters.unsettled = len(book.ambiguous())
        book.close()


@attrs.define(eq=False)
class _Job:
    """Strictly private. Maps input lines to bulk indexes and results to result lines."""

    resource: Any
    model: Any
    book: ResultsBook
    counters: Counters
    on_progress: Callable[[], None]
    line_of: dict[int, int] = attrs.field(factory=dict)  # bulk index -> input line (items in flight only)
    refused: AuthenticationError | PermissionDeniedError | None = None
    seen_ambiguous: set[int] = attrs.field(factory=set)

    def items(self, source: Path, wanted: Callable[[int], bool]) -> Iterator[Any]:
        """Items of the wanted lines; bad lines get their ``error`` line here, unsent.

        Local file reads are buffered and short, so they run on the loop.
        """
        index = 0
        for number, text in input_lines(source):
            if self.refused is not None:
                return  # the key was refused: take no more lines
            if not wanted(number):
                continue
            try:
                item = parse_line(number, text, self.model)
            except InputLineError as exc:
                self.counters.failed += 1
                self.book.write({"line": number, "status": "error", "error": str(exc)})
                continue
            self.line_of[index] = number
            index += 1
            yield item

    async def drive(self, run: BulkRun[Any, Any]) -> None:
        try:
            async for result in run:
                self.record(result)
        except asyncio.CancelledError:
            for result in run.unreported:
                self.record(result)
            raise

    def record(self, result: BulkResult[Any, Any]) -> None:
        number = self.line_of.pop(result.index)
        if number in self.seen_ambiguous:  # settled again by reconcile: count the new outcome only
            self.seen_ambiguous.discard(number)
            self.counters.failed -= 1
            self.counters.ambiguous -= 1
        if isinstance(result.error, (AuthenticationError, PermissionDeniedError)) and self.refused is None:
            self.refused = result.error
        if result.status == "created":
            self.counters.records += 1
        else:
            self.counters.failed += 1
            if result.status == "ambiguous":
                self.counters.ambiguous += 1
                self.seen_ambiguous.add(number)
        self.book.write(result_entry(number, result))
        self.on_progress()
