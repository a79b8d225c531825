"""Calendar and calendar event models (reference.md §2.5, §2.6)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import extra_field, json_name


@attrs.frozen(kw_only=True)
class Calendar:
    """A calendar.

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    name: str | None = None
    description: str | None = None
    hex_color: str | None = None
    hex_foreground_color: str | None = None
    is_primary: bool | None = None
    location: str | None = None
    timezone: str | None = None
    read_only: bool | None = None
    metadata: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class CalendarCreate:
    """Body of ``POST /calendars``; ``name`` is required.

    .. versionadded:: 0.1.0
    """

    name: str
    description: str | None = None
    hex_color: str | None = None
    hex_foreground_color: str | None = None
    is_primary: bool | None = None
    location: str | None = None
    timezone: str | None = None
    read_only: bool | None = None
    metadata: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class Participant:
    """A calendar event participant; ``status`` is the RSVP (e.g. ``yes``).

    .. versionadded:: 0.1.0
    """

    email: str | None = None
    name: str | None = None
    status: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class Conferencing:
    """Conferencing details of an event (``details`` holds e.g. the join ``url``).

    .. versionadded:: 0.1.0
    """

    provider: str | None = None
    details: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class CalendarEvent:
    """A calendar event.

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    calendar_id: str | None = None
    title: str | None = None
    description: str | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    location: str | None = None
    status: str | None = None
    visibility: str | None = None
    organizer_email: str | None = None
    organizer_name: str | None = None
    busy: bool | None = None
    read_only: bool | None = None
    hide_participants: bool | None = None
    html_link: str | None = None
    ical_uid: str | None = json_name("iCalUID")
    nylas_id: str | None = None
    master_event_id: str | None = None
    duration: float | None = None
    recurrence: list[str] | None = None
    participants: list[Participant] | None = None
    conferencing: Conferencing | None = None
    metadata: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class CalendarEventCreate:
    """Body of ``POST /calendar-events`` (path inferred, provisional).

    The documented field list is cut after ``location``.  **Provisional fields:** everything
    after ``location`` (``status`` to ``metadata``) are the writable fields of
    :class:`CalendarEvent`, typed so that they are spelled right on the wire; whether the server
    accepts each of them on create is not documented.  ``extra`` sends further fields verbatim.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       The provisional fields after ``location``.
    """

    calendar_id: str | None = None
    title: str | None = None
    description: str | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    location: str | None = None
    # Provisional: the writable fields of CalendarEvent that the cut documentation does not show.
    status: str | None = None
    visibility: str | None = None
    organizer_email: str | None = None
    organizer_name: str | None = None
    busy: bool | None = None
    read_only: bool | None = None
    hide_participants: bool | None = None
    recurrence: list[str] | None = None
    participants: list[Participant] | None = None
    conferencing: Conferencing | None = None
    metadata: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = extra_field()
