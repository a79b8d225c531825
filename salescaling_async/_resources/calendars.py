"""Calendars and calendar events (reference.md §2.5, §2.6)."""

from __future__ import annotations

from datetime import date

from .._endpoints import (
    CALENDAR_EVENTS_CREATE,
    CALENDAR_EVENTS_GET,
    CALENDAR_EVENTS_LIST,
    CALENDARS_CREATE,
    CALENDARS_GET,
    CALENDARS_LIST,
)
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Calendar, CalendarCreate, CalendarEvent, CalendarEventCreate
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
    filters,
)
from ._bulk_mixin import BulkCreate, match_fields
from ._operations import listing, operation


class Calendars(Resource[M, "Calendars[Raw[M]]"], BulkCreate[CalendarCreate, Calendar]):
    """``client.calendars``: list, get (provisional) and create.

    .. versionadded:: 0.1.0
    """

    _bulk_match = match_fields(name="name")  # reconcile(match=...): field -> list() filter

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        is_primary: bool | None = None,
        read_only: bool | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[Calendar]:
        """Every calendar matching the filters (``name`` matches partially)."""
        params = filters(name=name, isPrimary=is_primary, readOnly=read_only)
        return self._list(
            CALENDARS_LIST, params, page_size=page_size, start_page=start_page, prefetch=prefetch, priority=priority
        )

    @operation
    async def get(self, id: str) -> Calendar:
        """One calendar by id. Provisional: the path is inferred."""
        return await self._get(CALENDARS_GET, id)

    @operation
    async def create(self, data: CalendarCreate) -> Calendar:
        """Create a calendar (``POST /calendars``)."""
        return await self._create(CALENDARS_CREATE, data)


class CalendarEvents(Resource[M, "CalendarEvents[Raw[M]]"], BulkCreate[CalendarEventCreate, CalendarEvent]):
    """``client.calendar_events``: list, get and create (both provisional).

    .. versionadded:: 0.1.0
    """

    @listing
    def list(
        self,
        *,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        calendar_id: str | None = None,
        status: str | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[CalendarEvent]:
        """Every event matching the filters; dates are sent as ``YYYY-MM-DD``."""
        params = filters(startDate=_day(start_date), endDate=_day(end_date), calendarId=calendar_id, status=status)
        return self._list(
            CALENDAR_EVENTS_LIST,
            params,
            page_size=page_size,
            start_page=start_page,
            prefetch=prefetch,
            priority=priority,
        )

    @operation
    async def get(self, id: str) -> CalendarEvent:
        """One event by id. Provisional: the path is inferred."""
        return await self._get(CALENDAR_EVENTS_GET, id)

    @operation
    async def create(self, data: CalendarEventCreate) -> CalendarEvent:
        """Create an event. Provisional: ``POST /calendar-events`` is inferred."""
        return await self._create(CALENDAR_EVENTS_CREATE, data)


def _day(value: date | str | None) -> str | None:
    return value.isoformat()[:10] if isinstance(value, date) else value
