"""Every endpoint of the API as data: method, path, scope, model. Strictly private.

Adding an endpoint is one line here plus a method on its resource.  ``provisional`` marks
paths inferred from the API's conventions because their reference pages are missing or cut
(reference.md §2.7, §4); they may change when the real paths are known.
"""

from __future__ import annotations

from typing import Any

import attrs

from .models import (
    Calendar,
    CalendarEvent,
    Call,
    CallUploadResult,
    Company,
    Contact,
    Meeting,
    Opportunity,
    User,
    VoiceAgent,
)


@attrs.frozen
class Endpoint:
    """Strictly private. One operation of the API."""

    name: str
    method: str
    path: str
    scope: str
    model: Any
    provisional: bool = False

    def render(self, **path_params: str) -> str:
        """The path with ``{name}`` placeholders filled (values are URL-quoted by the caller)."""
        return self.path.format(**path_params)


def _ep(name: str, method: str, path: str, scope: str, model: Any, *, provisional: bool = False) -> Endpoint:
    return Endpoint(name, method, path, scope, model, provisional)


P = True  # shorthand for provisional=True in the table below

ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        _ep("calls.list", "GET", "calls", "calls:read", Call),
        _ep("calls.get", "GET", "calls/{id}", "calls:read", Call, provisional=P),
        _ep("calls.upload", "POST", "calls/upload", "calls:write", CallUploadResult),
        _ep("contacts.list", "GET", "contacts", "contacts:read", Contact),
        _ep("contacts.get", "GET", "contacts/{id}", "contacts:read", Contact, provisional=P),
        _ep("contacts.create", "POST", "contacts", "contacts:write", Contact, provisional=P),
        _ep("opportunities.list", "GET", "opportunities", "opportunities:read", Opportunity),
        _ep("opportunities.get", "GET", "opportunities/{id}", "opportunities:read", Opportunity, provisional=P),
        _ep("opportunities.create", "POST", "opportunities", "opportunities:write", Opportunity),
        _ep("users.list", "GET", "users", "users:read", User),
        _ep("users.update_metadata", "PUT", "users/{id}/metadata", "users:write", dict),
        _ep("calendars.list", "GET", "calendars", "calendar:read", Calendar),
        _ep("calendars.get", "GET", "calendars/{id}", "calendar:read", Calendar, provisional=P),
        _ep("calendars.create", "POST", "calendars", "calendar:write", Calendar),
        _ep("calendar_events.list", "GET", "calendar-events", "calendar:read", CalendarEvent),
        _ep("calendar_events.get", "GET", "calendar-events/{id}", "calendar:read", CalendarEvent, provisional=P),
        _ep("calendar_events.create", "POST", "calendar-events", "calendar:write", CalendarEvent, provisional=P),
        _ep("companies.list", "GET", "companies", "companies:read", Company, provisional=P),
        _ep("companies.get", "GET", "companies/{id}", "companies:read", Company, provisional=P),
        _ep("companies.create", "POST", "companies", "companies:write", Company, provisional=P),
        _ep("meetings.list", "GET", "meetings", "meetings:read", Meeting, provisional=P),
        _ep("meetings.get", "GET", "meetings/{id}", "meetings:read", Meeting, provisional=P),
        _ep("meetings.create", "POST", "meetings", "meetings:write", Meeting, provisional=P),
        _ep("voice_agents.list", "GET", "voice-agents", "voice-agents:read", VoiceAgent, provisional=P),
        _ep("voice_agents.get", "GET", "voice-agents/{id}", "voice-agents:read", VoiceAgent, provisional=P),
        _ep("voice_agents.create", "POST", "voice-agents", "voice-agents:write", VoiceAgent, provisional=P),
    )
}
"""Every wrapped operation by name.  ``users:write`` is inferred: the docs list no such scope."""

SCOPES = frozenset(
    {
        "voice-agents:webhook", "voice-agents:read", "voice-agents:write",
        "contacts:read", "contacts:write", "companies:read", "companies:write",
        "calls:read", "calls:write", "meetings:read", "meetings:write",
        "opportunities:read", "opportunities:write", "calendar:read", "calendar:write",
        "users:read", "users:write",
    }
)  # fmt: skip
"""Scopes of introduction.md, plus the inferred ``users:write``."""
