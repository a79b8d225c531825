"""``create_many`` and ``reconcile`` for every resource with ``create``. Strictly private.

A resource gains both with one base class and one class attribute::

    class Contacts(Resource[M, "Contacts[Raw[M]]"], BulkCreate[ContactCreate, Contact]):
        _bulk_match = match_fields(email="email")   # API field -> keyword of list() filtering on it

The mixin needs only the resource's own ``create(item)``, ``list(**filters)`` and its
requester in ``_client``; requests go through the client's scheduler in the ``BULK`` lane
(a twin of the resource whose requester fills in the priority).  The ``bulk`` descriptor
runs both methods on an async-mode twin and gives blocking clients a :class:`SyncBulkRun`.

Reconciliation settles each ``ambiguous`` result by looking the record up with the list
filter on the ``match`` field and comparing that field **exactly** (the API's filters match
partially, so look-alikes such as ``Deal 1`` / ``Deal 10`` are ignored):

* one exact match: ``created`` with that record;
* none: the item is sent once more (``created``, ``error``, or again ``ambiguous``);
* several: ``ambiguous`` with the matches in ``candidates`` (the field is not unique);
* the lookup failed, or found too many look-alikes to scan: ``ambiguous`` with the error.

``created`` and ``error`` results pass through unchanged; a plain item (not a
``BulkResult``) is treated as ambiguous, so ``reconcile(items)`` means "make sure each
exists".
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

from .._bulk import BulkProgress, BulkResult, BulkRun, ItemSource, check_concurrency, create_one
from .._errors import ConfigError, SalescalingError
from .._types import Priority
from ._operations import bulk

I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

MAX_CANDIDATES = 10
"""Exact matches kept as ``candidates`` of an item matched several times."""


class _Prioritized:
    """Strictly private. A requester that puts its requests in one lane by default."""

    def __init__(self, inner: Any, priority: Priority) -> None:
        self._inner = inner
        self._priority = priority

    async def call(self, endpoint: Any, **kwargs: Any) -> Any:
        if kwargs.get("priority") is None:
            kwargs["priority"] = self._priority
        return await self._inner.call(endpoint, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _in_lane(resource: Any, priority: Priority | None) -> Any:
    if priority is None:
        return resource
    if not isinstance(priority, Priority):
        raise ConfigError(f"priority must be a Priority or None, got {priority!r}")
    return type(resource)(_Prioritized(resource._client, priority))


def _snake(name: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def match_fields(**fields: str) -> Mapping[str, str]:
    """A resource's ``_bulk_match``: API field -> ``list()`` keyword, read-only."""
    return MappingProxyType(fields)


def match_keyword(resource: type[BulkCreate[Any, Any]], match: str) -> str:
    """The ``list()`` keyword filtering on ``match``; ``ConfigError`` naming the supported fields."""
    table = resource._bulk_match
    keyword = table.get(match) if isinstance(match, str) else None
    keyword = keyword or (table.get(_camel(_snake(match))) if isinstance(match, str) else None)
    if keyword is None:
        supported = ", ".join(sorted(table)) or "none (the API documents no filter)"
        raise ConfigError(
            f"{resource.__name__.lower()} cannot be matched on {match!r}; fields with a list filter: {supported}"
        )
    return keyword


def field_value(obj: Any, field: str) -> Any:
    """``field`` (API or Python spelling) of a mapping body, an input model or a record."""
    snake, camel = _snake(field), _camel(_snake(field))
    if isinstance(obj, Mapping):
        return obj.get(camel, obj.get(snake))
    value = getattr(obj, snake, None)
    extra = getattr(obj, "extra", None)
    if value is None and isinstance(extra, Mapping):
        value = extra.get(camel)
    return value


class BulkCreate(Generic[I, R]):
    """Strictly private mixin: ``create_many`` and ``reconcile`` from ``create`` and ``list``."""

    _bulk_match: ClassVar[Mapping[str, str]] = {}
    """API field name -> ``list()`` keyword of the filter on that field."""

    @bulk
    def create_many(
        self,
        items: ItemSource[I],
        *,
        concurrency: int = 8,
        ordered: bool = False,
        priority: Priority | None = Priority.BULK,
        on_progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkRun[I, R]:
        """Create one record per item, ``concurrency`` at a time, with an outcome per item.

        Items (a sync or async iterable) are taken lazily, so memory stays bounded for any
        number of them.  Every request goes through the client's scheduler, in the ``BULK``
        lane by default, so interactive calls of the same client keep priority.  Writes are
        never resent blindly: a write that may have been applied is ``ambiguous``; pass the
        results to :meth:`reconcile` to settle them.

        Args:
            items: What ``create`` accepts, one per record.
            concurrency: Items in flight at once (1 to 1000).
            ordered: Yield results in input order (``False``: as they finish).
            priority: The scheduling lane (``None``: the client's default).
            on_progress: Called with a :class:`BulkProgress` after each settled item.

        Returns:
            A :class:`BulkRun`: ``async for result in run``.

        Raises:
            ConfigError: Bad arguments (before anything is sent).  Per-item failures are
                never raised: they are results.

        .. versionadded:: 0.2.0
        """
        create = _in_lane(self, priority).create
        return BulkRun(
            items,
            functools.partial(create_one, create),
            concurrency=concurrency,
            ordered=ordered,
            on_progress=on_progress,
        )

    @bulk
    def reconcile(
        self,
        results_or_items: ItemSource[BulkResult[I, R] | I],
        *,
        match: str,
        concurrency: int = 8,
        ordered: bool = False,
        priority: Priority | None = Priority.BULK,
        on_progress: Callable[[BulkProgress], None] | None = None,
        max_pages: int = 10,
    ) -> BulkRun[I, R]:
        """Settle ``ambiguous`` results by looking each record up by the ``match`` field.

        Found exactly once: ``created`` with the record; not found: sent once more; found
        several times: ``ambiguous`` with ``candidates``.  ``created``/``error`` results
        pass through; plain items are treated as ambiguous.  The lookup uses the API's list
        filter on ``match`` (a partial match) and keeps only records whose field equals the
        item's exactly; ``max_pages`` pages of look-alikes are scanned at most (beyond that
        the item stays ``ambiguous``).

        Args:
            results_or_items: Results of :meth:`create_many` or items, sync or async.
            match: The API field to match on, one with a list filter: ``email`` for
                contacts, ``name`` for opportunities and calendars; calendar events and the
                provisional resources have none (the ``ConfigError`` names what is supported).
            concurrency: Items settled at once.
            ordered: Yield results in input order.
            priority: The scheduling lane (``None``: the client's default).
            on_progress: Called with a :class:`BulkProgress` after each settled item.
            max_pages: Pages of 100 look-alikes scanned per item at most.

        Returns:
            A :class:`BulkRun` of the settled results (indexes kept from the input results).

        Raises:
            ConfigError: ``match`` names no supported filter (before anything is sent).

        .. versionadded:: 0.2.0
        """
        keyword = match_keyword(type(self), match)
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise ConfigError(f"max_pages must be an integer >= 1, got {max_pages!r}")
        check_concurrency(concurrency)
        bound = _in_lane(self, priority)
        settle = functools.partial(_settle, bound, keyword, _camel(_snake(match)), max_pages)
        source: Any = results_or_items  # entries are results or items; _settle tells them apart
        return BulkRun(source, settle, concurrency=concurrency, ordered=ordered, on_progress=on_progress)


async def _settle(
    resource: Any, keyword: str, field: str, max_pages: int, index: int, entry: Any
) -> BulkResult[Any, Any]:
    if isinstance(entry, BulkResult):
        if entry.status != "ambiguous":
            return entry
        index, item = entry.index, entry.item
    else:
        item = entry
    value = field_value(item, field)
    if not isinstance(value, str) or not value:
        problem = ConfigError(f"the item has no {field!r} to match on")
        return BulkResult(index, "ambiguous", item, error=problem)
    try:
        found = await _lookup(resource, keyword, field, value, max_pages)
    except SalescalingError as exc:
        return BulkResult(index, "ambiguous", item, error=exc)
    if found is None:
        problem = ConfigError(f"more than {max_pages} pages of records look like {field}={value!r}")
        return BulkResult(index, "ambiguous", item, error=problem)
    if len(found) == 1:
        return BulkResult(index, "created", item, record=found[0])
    if found:
        return BulkResult(
            index,
            "ambiguous",
            item,
            candidates=tuple(found),
            error=ConfigError(f"{len(found)} records have {field}={value!r}"),
        )
    return await create_one(resource.create, index, item)


async def _lookup(resource: Any, keyword: str, field: str, value: str, max_pages: int) -> list[Any] | None:
    """Records whose ``field`` equals ``value`` exactly; ``None`` if there were too many pages."""
    found: list[Any] = []
    pages: AsyncIterator[Any] = resource.list(**{keyword: value}).pages()
    async with aclosing(pages):  # type: ignore[type-var]  # an async generator: aclose exists
        scanned = 0
        async for page in pages:
            found += [r for r in page.items if field_value(r, field) == value]
            scanned += 1
            if len(found) >= MAX_CANDIDATES:
                return found[:MAX_CANDIDATES]
            if scanned >= max_pages and not page.is_last:
                return None
    return found
