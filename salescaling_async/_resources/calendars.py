"""Calendars and calendar events (reference.md §2.5, §2.6)."""

from __future__ import annotations

from datetime import date

from .._bulk_resource import BulkCreate, match_fields
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Calendar, CalendarCreate, CalendarEvent, CalendarEventCreate
from ._base import Resource, filters


class Calendars(Resource, BulkCreate[CalendarCreate, Calendar]):
    """``client.calendars``: list, get (provisional) and create.

    .. versionadded:: 0.1.0
    """

    _prefix = "calendars"
    _bulk_match = match_fields(name="name")  # reconcile(match=...): field -> list() filter

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
        return self._list("list", Calendar, params, page_size=page_size, start_page=start_page,
                          prefetch=prefetch, priority=priority)  # fmt: skip

    async def get(self, id: str) -> Calendar:
        """One calendar by id. Provisional: the path is inferred."""
        return await self._get("get", Calendar, id)

    async def create(self, data: CalendarCreate) -> Calendar:
        """Create a calendar (``POST /calendars``)."""
        return await self._create("create", Calendar, data)


class CalendarEvents(Resource, BulkCreate[CalendarEventCreate, CalendarEvent]):
    """``client.calendar_events``: list, get and create (both provisional).

    .. versionadded:: 0.1.0
    """

    _prefix = "calendar_events"

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
        params = filters(
            startDate=_day(start_date), endDate=_day(end_date), calendarId=calendar_id, status=status
        )
        return self._list("list", CalendarEvent, params, page_size=page_size, start_page=start_page,
                          prefetch=prefetch, priority=priority)  # fmt: skip

    async def get(self, id: str) -> CalendarEvent:
        """One event by id. Provisional: the path is inferred."""
        return await self._get("get", CalendarEvent, id)

    async def create(self, data: CalendarEventCreate) -> CalendarEvent:
        """Create an event. Provisional: ``POST /calendar-events`` is inferred."""
        return await self._create("create", CalendarEvent, data)


def _day(value: date | str | None) -> str | None:
    return value.isoformat()[:10] if isinstance(value, date) else value
