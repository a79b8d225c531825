"""A dlt source for the Salescaling API (extra ``salescaling-async[dlt]``).

    import dlt
    from salescaling_async.integrations.dlt import salescaling_source

    pipeline = dlt.pipeline("salescaling", destination="duckdb", dataset_name="salescaling")
    pipeline.run(salescaling_source())

One dlt resource per API resource (``calls``, ``contacts``, ``companies``, ``meetings``,
``opportunities``, ``calendars``, ``calendar_events``, ``users``, ``voice_agents``), each a
table of the same name with typed columns, nested lists as child tables and unknown fields
kept (dlt's schema evolution).

**Deletions: SCD2.**  The API has no change feed and no updated-since filter, so every run
is a full scan, loaded with dlt's ``scd2`` merge strategy: a new record gets a row whose
``_dlt_valid_to`` is ``NULL``; a changed one gets a new row and its old row is closed
(``_dlt_valid_to`` set to the load's time); a record missing from a complete scan has its row
closed and no new one.  The current state of a table is ``WHERE _dlt_valid_to IS NULL``, and
the history stays queryable.  A scan that fails or is interrupted raises out of the extract
step, and dlt only commits a load package once the whole extract has finished, so an
interrupted scan loads nothing and closes nothing.

**One client per run.**  dlt runs every async resource of one extract on one event loop (its
extract thread); the resources share one :class:`AsyncSalescaling`, so one scheduler holds
the whole run at the key's ceiling, and with ``budget=RedisBudget(...)`` several machines
share the key.  The client is opened on that loop when the first resource starts and closed
when the last one ends (or, if the extract fails, when dlt shuts its loop's generators down).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

import attrs
import dlt
from dlt.common.schema.typing import TScd2StrategyDict, TTableSchemaColumns
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from .._config import RateLimits
from .._convert import unstructure
from .._errors import ConfigError, SalescalingError
from .._events import Event, RateLimitHit, RetryScheduled, ThrottleWait
from .._options import check_api_key
from .._pagination import Page
from .._redis import RedisBudget
from .._scheduler import KeyStatistics
from .._session import AsyncSalescaling
from .._types import Priority
from .._urls import check_base_url
from ._dlt_lease import ClientLease
from ._dlt_schema import RESOURCES, ResourceSpec

__all__ = ["RESOURCE_NAMES", "IncompleteScanError", "SyncMonitor", "check_resources", "salescaling_source"]

RESOURCE_NAMES: tuple[str, ...] = tuple(RESOURCES)
"""Every resource the source can load, in display order.

.. versionadded:: 0.2.0
"""

WRITE_DISPOSITION: TScd2StrategyDict = {"disposition": "merge", "strategy": "scd2"}


@attrs.define
class SyncMonitor:
    """Live counters of the runs of one source (read them from any thread).

    Attributes:
        records: Records extracted per resource in the current run.
        totals: The API's record count per resource, when its envelope gives a total.
        complete: Resources whose scan reached the last page in the current run.
        requests: Requests granted by the run's scheduler (set when the run's client closes).
        rate_limited: 429 responses seen.
        retries: Retries scheduled.
        throttle_waits: Requests that waited for rate budget.
        statistics: The scheduler's last snapshot (set when the run's client closes).
        scan_seconds: From the run's client opening to its closing (the scan, without the load).
        on_page: Called as ``on_page(resource, records_in_page)`` from dlt's extract thread.

    .. versionadded:: 0.2.0
    """

    records: dict[str, int] = attrs.field(factory=dict)
    totals: dict[str, int] = attrs.field(factory=dict)
    complete: set[str] = attrs.field(factory=set)
    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    throttle_waits: int = 0
    statistics: KeyStatistics | None = None
    scan_seconds: float = 0.0
    on_page: Callable[[str, int], None] | None = None
    # Set by the CLI's SIGINT handler: every scan raises _ScanStopped at its next page, so a
    # run stops, loading nothing of the scan, even if the KeyboardInterrupt the handler raised
    # in the main thread was swallowed (it can land in a generator's finalizer inside dlt).
    _stopping: threading.Event = attrs.field(init=False, factory=threading.Event, repr=False, eq=False)

    def on_event(self, event: Event) -> None:
        """The client's event hook: counts 429s, retries and throttle waits."""
        if isinstance(event, RateLimitHit):
            self.rate_limited += 1
        elif isinstance(event, RetryScheduled):
            self.retries += 1
        elif isinstance(event, ThrottleWait):
            self.throttle_waits += 1

    def _page(self, resource: str, count: int, total: int | None) -> None:
        if total is not None:
            self.totals[resource] = total
        self.records[resource] = self.records.get(resource, 0) + count
        if self.on_page is not None:
            self.on_page(resource, count)


class _ScanStopped(SalescalingError):
    """Strictly private. A scan stopped at a page because the run was interrupted (SIGINT).

    An ordinary exception, not KeyboardInterrupt: dlt fails the extract step on it as on any
    error (a KeyboardInterrupt raised in its extract thread leaves the run waiting).
    """


class IncompleteScanError(SalescalingError):
    """Records were deleted while a scan was listing, so later records may have shifted onto
    pages already read and been missed.

    Raised so that the run loads nothing and marks nothing deleted; run the sync again.

    .. versionadded:: 0.2.0
    """


def _total(page: Page[Any]) -> int | None:
    """The envelope's ``count`` when it is a total: its meaning is undocumented, so only a count
    larger than the page itself is taken as one."""
    return page.count if page.count is not None and page.count > page.raw_length else None


def _check_shift(name: str, peak: int | None, page: Page[Any]) -> int | None:
    """Raise when the total dropped since an earlier page; return the new peak total."""
    total = _total(page)
    if total is None:
        return peak
    if peak is not None and total < peak:
        raise IncompleteScanError(
            f"{name}: the API's count fell from {peak:,} to {total:,} during the scan, so records may "
            "have moved between pages; nothing was loaded or marked deleted, run the sync again"
        )
    return max(total, peak or 0)


async def _scan(
    lease: ClientLease, monitor: SyncMonitor, spec: ResourceSpec, page_size: int, prefetch: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield every record of one resource, a page at a time, as the JSON the API sent."""
    try:
        client = await lease.client()
        paginator = getattr(client, spec.name).list(page_size=page_size, prefetch=prefetch, priority=Priority.BULK)
        peak, last = None, None
        async for page in paginator.pages():
            if monitor._stopping.is_set():
                raise _ScanStopped(f"{spec.name}: the scan was stopped by SIGINT")
            peak = _check_shift(spec.name, peak, page)
            # nulls carry nothing: dropping them keeps dlt from warning about never-typed columns
            rows = [{k: v for k, v in unstructure(item).items() if v is not None} for item in page.items]
            monitor._page(spec.name, len(rows), _total(page) if last is None or page.is_last else None)
            if rows:
                yield rows
            elif last is None:  # nothing at all: an empty staging table, so the merge closes every row
                yield dlt.mark.materialize_table_schema()
            last = page
        monitor.complete.add(spec.name)
    finally:
        await lease.release()


def _resource(
    lease: ClientLease, monitor: SyncMonitor, spec: ResourceSpec, page_size: int, prefetch: int
) -> DltResource:
    def open_scan() -> AsyncIterator[list[dict[str, Any]]]:
        lease.expect()  # dlt calls this in its own thread before iterating any resource
        return _scan(lease, monitor, spec, page_size, prefetch)

    resource = dlt.resource(
        open_scan,
        name=spec.name,
        primary_key=spec.primary_key,
        write_disposition=WRITE_DISPOSITION,
        columns=cast("TTableSchemaColumns", spec.columns),
    )
    return cast(DltResource, resource)  # a plain function gives a resource, not a factory


def check_resources(resources: Iterable[str] | None) -> tuple[str, ...]:
    """Resource names (``calendar-events`` and ``calendar_events`` both work), checked.

    .. versionadded:: 0.2.0
    """
    if resources is None:
        return RESOURCE_NAMES
    if isinstance(resources, str):
        raise ConfigError("resources must be a collection of resource names, not one string")
    names = tuple(dict.fromkeys(r.replace("-", "_") for r in resources))
    unknown = [n for n in names if n not in RESOURCES]
    if unknown:
        raise ConfigError(f"unknown resource(s) {unknown}; choose from {', '.join(RESOURCE_NAMES)}")
    if not names:
        raise ConfigError("resources is empty; pass None for every resource")
    return names


def _api_key(api_key: str | None) -> str:
    """The key: the argument, else dlt's secrets (``sources.salescaling.api_key``), else env."""
    if api_key is None:
        found: Any = dlt.secrets.get("sources.salescaling.api_key")
        api_key = str(found) if found is not None else None
    return check_api_key(api_key)


def salescaling_source(
    api_key: str | None = None,
    base_url: str | None = None,
    resources: Iterable[str] | None = None,
    budget: RedisBudget | None = None,
    *,
    limits: RateLimits | None = None,
    page_size: int = 100,
    prefetch: int = 2,
    monitor: SyncMonitor | None = None,
) -> DltSource:
    """The Salescaling API as a dlt source: one merge (SCD2) resource per API resource.

    Args:
        api_key: The key; default: dlt's ``sources.salescaling.api_key`` (``secrets.toml`` or
            ``SOURCES__SALESCALING__API_KEY``), else ``SALESCALING_API_KEY``.
        base_url: API base URL (default ``SALESCALING_BASE_URL`` or the public API).
        resources: Resource names to load (default: all of :data:`RESOURCE_NAMES`).
        budget: A :class:`RedisBudget` shared with other processes using the same key.
        limits: The key's :class:`RateLimits` (default: the published ones).
        page_size: Records per request.
        prefetch: Pages each resource fetches ahead (every request still goes through the
            one scheduler, so this never exceeds the budget).
        monitor: A :class:`SyncMonitor` to read progress and request counts from.

    Returns:
        A ``DltSource`` named ``salescaling``; each resource loads into a table of its name.

    Raises:
        ConfigError: A missing or malformed key, an unknown resource name, a bad page size.

    .. versionadded:: 0.2.0
    """
    names = check_resources(resources)
    key = _api_key(api_key)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ConfigError(f"page_size must be an integer >= 1, got {page_size!r}")
    if isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0:
        raise ConfigError(f"prefetch must be an integer >= 0, got {prefetch!r}")
    check_base_url(base_url, allow_insecure=False)  # fail now, not in dlt's extract thread
    watch = monitor if monitor is not None else SyncMonitor()

    def factory() -> AsyncSalescaling:
        return AsyncSalescaling(key, base_url=base_url, limits=limits, budget=budget, on_event=watch.on_event)

    lease = ClientLease(factory, watch)

    @dlt.source(name="salescaling")
    def salescaling() -> Any:
        return [_resource(lease, watch, RESOURCES[name], page_size, prefetch) for name in names]

    source: DltSource = salescaling()
    return source
