"""Every endpoint of the API as a module constant: method, path, scope, model. Strictly private.

Adding an endpoint is one constant here (and one entry in :data:`ENDPOINTS`) plus a method on
its resource.  ``provisional`` marks paths inferred from the API's conventions because their
reference pages are missing or cut (reference.md §2.7, §4); they may change when the real
paths are known.
"""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from ._errors import ConfigError
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

T = TypeVar("T")


@attrs.frozen
class Endpoint(Generic[T]):
    """Strictly private. One operation of the API; ``model`` is what its data parses into."""

    name: str
    method: str
    path: str
    scope: str
    model: type[T]
    provisional: bool = False

    def render(self, **path_params: str) -> str:
        """The path with ``{name}`` placeholders filled by checked, URL-quoted ids.

        Raises:
            ConfigError: An id that would change the path (see :func:`check_path_id`).
        """
        return self.path.format(**{name: check_path_id(value, name) for name, value in path_params.items()})


CONTROL_CHARACTERS = "[\x00-\x1f\x7f]"
"""The C0 controls and DEL, as a regular expression class: never part of a path as written."""
_PATH_CHANGING = re.compile(r"[/\\]|%(?:2e|2f|5c)|" + CONTROL_CHARACTERS, re.IGNORECASE)


def check_path_id(value: object, name: str = "id") -> str:
    """An id as one quoted path segment, or :class:`ConfigError` before anything is sent.

    Refused: a non-string, an empty or blank id, ``.`` and ``..`` (spaces around included),
    and any id containing ``/`` or ``\\``, an encoded dot or separator (``%2e``, ``%2f``,
    ``%5c`` in any case, which servers that decode twice turn into path steps) or a control
    character.
    """
    if not isinstance(value, str) or value.strip() in ("", ".", "..") or _PATH_CHANGING.search(value):
        raise ConfigError(
            f"{name} must be one path segment (not empty, '.', '..', no '/' or encoded dots), got {value!r:.80}"
        )
    return quote(value, safe="")


CALLS_LIST = Endpoint("calls.list", "GET", "calls", "calls:read", Call)
CALLS_GET = Endpoint("calls.get", "GET", "calls/{id}", "calls:read", Call, provisional=True)
CALLS_UPLOAD = Endpoint("calls.upload", "POST", "calls/upload", "calls:write", CallUploadResult)

CONTACTS_LIST = Endpoint("contacts.list", "GET", "contacts", "contacts:read", Contact)
CONTACTS_GET = Endpoint("contacts.get", "GET", "contacts/{id}", "contacts:read", Contact, provisional=True)
CONTACTS_CREATE = Endpoint("contacts.create", "POST", "contacts", "contacts:write", Contact, provisional=True)

OPPORTUNITIES_LIST = Endpoint("opportunities.list", "GET", "opportunities", "opportunities:read", Opportunity)
OPPORTUNITIES_GET = Endpoint(
    "opportunities.get", "GET", "opportunities/{id}", "opportunities:read", Opportunity, provisional=True
)
OPPORTUNITIES_CREATE = Endpoint("opportunities.create", "POST", "opportunities", "opportunities:write", Opportunity)

USERS_LIST = Endpoint("users.list", "GET", "users", "users:read", User)
USERS_UPDATE_METADATA: Endpoint[dict[str, Any]] = Endpoint(
    "users.update_metadata", "PUT", "users/{id}/metadata", "users:write", dict
)
"""``users:write`` is inferred: the docs list no such scope."""

CALENDARS_LIST = Endpoint("calendars.list", "GET", "calendars", "calendar:read", Calendar)
CALENDARS_GET = Endpoint("calendars.get", "GET", "calendars/{id}", "calendar:read", Calendar, provisional=True)
CALENDARS_CREATE = Endpoint("calendars.create", "POST", "calendars", "calendar:write", Calendar)

CALENDAR_EVENTS_LIST = Endpoint("calendar_events.list", "GET", "calendar-events", "calendar:read", CalendarEvent)
CALENDAR_EVENTS_GET = Endpoint(
    "calendar_events.get", "GET", "calendar-events/{id}", "calendar:read", CalendarEvent, provisional=True
)
CALENDAR_EVENTS_CREATE = Endpoint(
    "calendar_events.create", "POST", "calendar-events", "calendar:write", CalendarEvent, provisional=True
)

COMPANIES_LIST = Endpoint("companies.list", "GET", "companies", "companies:read", Company, provisional=True)
COMPANIES_GET = Endpoint("companies.get", "GET", "companies/{id}", "companies:read", Company, provisional=True)
COMPANIES_CREATE = Endpoint("companies.create", "POST", "companies", "companies:write", Company, provisional=True)

MEETINGS_LIST = Endpoint("meetings.list", "GET", "meetings", "meetings:read", Meeting, provisional=True)
MEETINGS_GET = Endpoint("meetings.get", "GET", "meetings/{id}", "meetings:read", Meeting, provisional=True)
MEETINGS_CREATE = Endpoint("meetings.create", "POST", "meetings", "meetings:write", Meeting, provisional=True)

VOICE_AGENTS_LIST = Endpoint(
    "voice_agents.list", "GET", "voice-agents", "voice-agents:read", VoiceAgent, provisional=True
)
VOICE_AGENTS_GET = Endpoint(
    "voice_agents.get", "GET", "voice-agents/{id}", "voice-agents:read", VoiceAgent, provisional=True
)
VOICE_AGENTS_CREATE = Endpoint(
    "voice_agents.create", "POST", "voice-agents", "voice-agents:write", VoiceAgent, provisional=True
)

ENDPOINTS: dict[str, Endpoint[Any]] = {
    e.name: e
    for e in (
        CALLS_LIST,
        CALLS_GET,
        CALLS_UPLOAD,
        CONTACTS_LIST,
        CONTACTS_GET,
        CONTACTS_CREATE,
        OPPORTUNITIES_LIST,
        OPPORTUNITIES_GET,
        OPPORTUNITIES_CREATE,
        USERS_LIST,
        USERS_UPDATE_METADATA,
        CALENDARS_LIST,
        CALENDARS_GET,
        CALENDARS_CREATE,
        CALENDAR_EVENTS_LIST,
        CALENDAR_EVENTS_GET,
        CALENDAR_EVENTS_CREATE,
        COMPANIES_LIST,
        COMPANIES_GET,
        COMPANIES_CREATE,
        MEETINGS_LIST,
        MEETINGS_GET,
        MEETINGS_CREATE,
        VOICE_AGENTS_LIST,
        VOICE_AGENTS_GET,
        VOICE_AGENTS_CREATE,
    )
}
"""Every wrapped operation by name, for tools that enumerate them (the CLI, the tests)."""

SCOPES = frozenset(
    {
        "voice-agents:webhook",
        "voice-agents:read",
        "voice-agents:write",
        "contacts:read",
        "contacts:write",
        "companies:read",
        "companies:write",
        "calls:read",
        "calls:write",
        "meetings:read",
        "meetings:write",
        "opportunities:read",
        "opportunities:write",
        "calendar:read",
        "calendar:write",
        "users:read",
        "users:write",
    }
)
"""Scopes of introduction.md, plus the inferred ``users:write``."""
