"""One sync run: finish what a previous run left, load a fresh scan, count what changed.

Strictly private (the CLI and the benchmark use it; programs call dlt directly).

Counting reads the SCD2 columns after the load.  For a load package ``L`` created at ``B``
(dlt's boundary timestamp for that load):

* rows inserted by ``L`` are new or changed records; *changed* ones have an older row of the
  same id closed exactly at ``B`` (``_dlt_valid_to = _dlt_valid_from`` of the new row);
* rows closed at ``B`` are changed or deleted records, so *deleted* = closed - changed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import attrs
import dlt
from dlt.common.destination.exceptions import DestinationUndefinedEntity

from ._dlt_schema import RESOURCES
from .dlt import SyncMonitor

FILE_FORMATS = {"duckdb": "parquet", "postgres": "csv"}
"""A fast load format where dlt's preferred one (insert_values) is slow (measured on 50,000
contacts: DuckDB 69 s with insert_values, 3 s with parquet; PostgreSQL 7 s -> 1.3 s with csv).
JSON Lines would be as fast in DuckDB, but dlt notes it fails on missing keys and it breaks on
an empty table."""

PIPELINE_NAME = "salescaling"
DATASET_NAME = "salescaling"
DUCKDB_DATASET = "main"
"""In ``salescaling.duckdb`` a ``salescaling`` schema would make ``salescaling.contacts`` ambiguous
(catalog or schema?) and DuckDB refuses such names; ``main`` gives plain ``contacts``."""


@attrs.frozen
class ResourceCounts:
    """Strictly private. What one run did to one table."""

    name: str
    records: int
    rows: int
    new: int
    changed: int
    deleted: int


@attrs.frozen
class SyncResult:
    """Strictly private. What one run did."""

    resources: tuple[ResourceCounts, ...]
    requests: int
    rate_limited: int
    retries: int
    seconds: float
    scan_seconds: float
    load_ids: tuple[str, ...]
    finished_pending: bool


def pipeline_name(where: str, dataset: str) -> str:
    """One pipeline (local state, pending packages) per target: ``where`` is the DuckDB file's
    absolute path or the destination name.  A shared name would let a run in one folder load
    the pending package another folder's stopped run left behind into the wrong database."""
    digest = hashlib.sha256(f"{where}\0{dataset}".encode()).hexdigest()[:10]
    return f"{PIPELINE_NAME}_{digest}"


def make_pipeline(destination: Any, dataset: str, pipelines_dir: str | None = None, name: str = PIPELINE_NAME) -> Any:
    """The pipeline of a sync (state under ``pipelines_dir``, default dlt's pipelines folder)."""
    if pipelines_dir is None:
        return dlt.pipeline(name, destination=destination, dataset_name=dataset)
    return dlt.pipeline(name, pipelines_dir=pipelines_dir, destination=destination, dataset_name=dataset)


def run(pipeline: Any, source: Any, names: Sequence[str], monitor: SyncMonitor, *, full_refresh: bool) -> SyncResult:
    """Load pending complete packages first, then one fresh full scan of ``names``."""
    started = time.monotonic()
    finished_pending = False
    if pipeline.has_pending_data:  # a previous run was stopped after its scan completed
        pipeline.run()
        finished_pending = True
    file_format = FILE_FORMATS.get(pipeline.destination.destination_name) if pipeline.destination else None
    info = pipeline.run(source, refresh="drop_resources" if full_refresh else None, loader_file_format=file_format)
    seconds = time.monotonic() - started
    load_ids = tuple(info.loads_ids) if info is not None else ()
    counts = tuple(_counts(pipeline, name, load_ids, monitor.records.get(name, 0)) for name in names)
    return SyncResult(
        counts,
        monitor.requests,
        monitor.rate_limited,
        monitor.retries,
        seconds,
        monitor.scan_seconds,
        load_ids,
        finished_pending,
    )


def _counts(pipeline: Any, name: str, load_ids: Sequence[str], records: int) -> ResourceCounts:
    naming = pipeline.default_schema.naming
    id_col = naming.normalize_identifier(RESOURCES[name].primary_key)
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name(name)
        q = client.escape_column_name
        idc, frm, to, lid = q(id_col), q("_dlt_valid_from"), q("_dlt_valid_to"), q("_dlt_load_id")

        def scalar(sql: str, *args: Any) -> int:
            try:
                rows = client.execute_sql(sql, *args)
            except DestinationUndefinedEntity:
                return 0  # the table does not exist yet
            return int(rows[0][0]) if rows else 0

        rows = scalar(f"SELECT count(*) FROM {table} WHERE {to} IS NULL")
        new = changed = deleted = 0
        for load_id in load_ids:
            boundary = pipeline.get_load_package_state(load_id)["created_at"]
            inserted = scalar(f"SELECT count(*) FROM {table} WHERE {lid} = %s", load_id)
            replaced = scalar(
                f"SELECT count(*) FROM {table} a WHERE a.{lid} = %s AND EXISTS "
                f"(SELECT 1 FROM {table} b WHERE b.{idc} = a.{idc} AND b.{to} = a.{frm})",
                load_id,
            )
            closed = scalar(f"SELECT count(*) FROM {table} WHERE {to} = %s", boundary)
            new += inserted - replaced
            changed += replaced
            deleted += closed - replaced
    return ResourceCounts(name, records, rows, new, changed, deleted)
