"""The simulator's in-memory records: seeded generation, filters, pages. Strictly private.

Records are stored as the JSON the API sends (camelCase dicts).  Generated fields are only
the documented ones (reference.md); provisional resources get an ``id`` and a ``name``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import attrs

Record = dict[str, Any]
Order = Literal["oldest_first", "newest_first"]

_FIRST = ["John", "Jane", "Ana", "Luis", "Marta", "Pedro", "Lucia", "Omar", "Mei", "Ravi"]
_LAST = ["Doe", "Smith", "Garcia", "Lopez", "Chen", "Khan", "Rossi", "Muller", "Silva", "Sato"]
_CITIES = ["New York", "Madrid", "Berlin", "Paris", "Lisbon", "Tokyo"]
_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _when(rng: random.Random) -> datetime:
    return _EPOCH + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))


def _contact(rng: random.Random, i: int) -> Record:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    at = iso(_when(rng))
    return {
        "id": _uuid(rng),
        "firstName": first,
        "lastName": last,
        "salutation": "Mx.",
        "email": f"{first}.{last}.{i}@example.com".lower(),
        "phone": f"+1-555-{i:07d}",
        "city": rng.choice(_CITIES),
        "country": "United States",
        "currency": "USD",
        "titlePosition": "Buyer",
        "companyId": None,
        "opportunityId": None,
        "createdAt": at,
        "updatedAt": at,
        "personId": _uuid(rng),
    }


def _call(rng: random.Random, i: int) -> Record:
    start = _when(rng)
    duration = rng.randrange(60, 3600)
    call_id = _uuid(rng)
    return {
        "callId": call_id,
        "status": "completed",
        "name": f"Call {i} with {rng.choice(_LAST)} Corp",
        "startDateTime": iso(start),
        "endDateTime": iso(start + timedelta(seconds=duration)),
        "duration": duration,
        "description": "Discussion",
        "language": "en",
        "direction": rng.choice(["OUTBOUND", "INBOUND"]),
        "fromNumber": "+1234567890",
        "toNumber": "+0987654321",
        "callType": {"id": "type123", "name": "Sales Call"},
        "aiScore": round(rng.random(), 2),
        "url": f"https://app.salescaling.com/calls/{call_id}",
    }


def _opportunity(rng: random.Random, i: int) -> Record:
    at = iso(_when(rng))
    return {
        "id": _uuid(rng),
        "name": f"Deal {i}",
        "amount": rng.randrange(1000, 100000),
        "finalAmount": None,
        "risk": rng.choice(["Low", "Medium", "High"]),
        "priority": rng.choice(["Low", "Medium", "High"]),
        "status": "open",
        "closeProbability": rng.randrange(0, 101),
        "contactId": None,
        "createdAt": at,
        "updatedAt": at,
    }


def _user(rng: random.Random, i: int) -> Record:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return {
        "id": _uuid(rng),
        "email": f"{first}.{i}@example.com".lower(),
        "firstName": first,
        "lastName": last,
        "phone": f"+1234{i:06d}",
        "position": "Sales Manager",
        "metadata": {"salesRegion": rng.choice(["North", "South"])},
        "personId": _uuid(rng),
    }


def _calendar(rng: random.Random, i: int) -> Record:
    at = iso(_when(rng))
    return {
        "id": _uuid(rng),
        "name": f"Calendar {i}",
        "description": "Work",
        "hexColor": "#4285f4",
        "hexForegroundColor": "#ffffff",
        "isPrimary": i == 0,
        "location": "New York, NY",
        "timezone": "America/New_York",
        "readOnly": False,
        "metadata": {},
        "createdAt": at,
        "updatedAt": at,
    }


def _event(rng: random.Random, i: int) -> Record:
    start = _when(rng)
    return {
        "id": _uuid(rng),
        "calendarId": None,
        "title": f"Meeting {i}",
        "description": "Sync",
        "startDateTime": iso(start),
        "endDateTime": iso(start + timedelta(hours=1)),
        "location": "Room A",
        "status": rng.choice(["confirmed", "tentative"]),
        "visibility": "default",
        "busy": True,
        "readOnly": False,
        "hideParticipants": False,
        "duration": 3600,
        "recurrence": [],
        "participants": [{"email": "john@example.com", "name": "John Doe", "status": "yes"}],
        "metadata": {},
        "createdAt": iso(start),
        "updatedAt": iso(start),
    }


def _named(rng: random.Random, i: int) -> Record:
    return {"id": _uuid(rng), "name": f"Record {i}"}


@attrs.frozen
class Kind:
    """Strictly private. How the simulator serves one resource."""

    path: str
    scope: str
    id_key: str
    make: Callable[[random.Random, int], Record]
    partial: tuple[str, ...] = ()  # query name == JSON field, partial match
    exact: tuple[str, ...] = ()  # query name == JSON field, exact match
    required: tuple[str, ...] = ()  # required create fields
    creatable: bool = True


KINDS: dict[str, Kind] = {
    k.path: k
    for k in (
        Kind("calls", "calls", "callId", _call, partial=("name",), creatable=False),
        Kind("contacts", "contacts", "id", _contact, ("email", "name"), ("opportunityId", "companyId")),
        Kind("opportunities", "opportunities", "id", _opportunity, ("name",), ("contactId",), ("name",)),
        Kind("users", "users", "id", _user, ("email", "phone"), creatable=False),
        Kind("calendars", "calendar", "id", _calendar, ("name",), ("isPrimary", "readOnly"), ("name",)),
        Kind("calendar-events", "calendar", "id", _event, (), ("calendarId", "status")),
        Kind("companies", "companies", "id", _named, ("name",)),
        Kind("meetings", "meetings", "id", _named, ("name",)),
        Kind("voice-agents", "voice-agents", "id", _named, ("name",)),
    )
}


class Store:
    """Strictly private. Records of every resource, seeded deterministically."""

    def __init__(self, *, seed: int, records: Mapping[str, int], order: Order) -> None:
        self.order = order
        self.rng = random.Random(seed)
        self.data: dict[str, list[Record]] = {}
        self.index: dict[str, dict[str, Record]] = {}
        for path, kind in KINDS.items():
            rows = [kind.make(self.rng, i) for i in range(records.get(path, 0))]
            self.data[path] = rows
            self.index[path] = {r[kind.id_key]: r for r in rows}

    def add(self, path: str, record: Record) -> Record:
        kind = KINDS[path]
        record.setdefault(kind.id_key, _uuid(self.rng))
        self.data[path].append(record)
        self.index[path][record[kind.id_key]] = record
        return record

    def get(self, path: str, id: str) -> Record | None:
        return self.index[path].get(id)

    def query(self, path: str, params: Mapping[str, str]) -> list[Record]:
        kind = KINDS[path]
        rows = self.data[path]
        if self.order == "newest_first":
            rows = rows[::-1]
        tests = [t for name, value in params.items() if (t := _matcher(kind, name, value)) is not None]
        return [r for r in rows if all(t(r) for t in tests)] if tests else list(rows)


def _matcher(kind: Kind, name: str, value: str) -> Callable[[Record], bool] | None:
    if name == "name" and kind.path == "contacts":
        needle = value.lower()
        return lambda r: needle in f"{r.get('firstName', '')} {r.get('lastName', '')}".lower()
    if name in kind.partial:
        needle = value.lower()
        return lambda r: needle in str(r.get(name) or "").lower()
    if name in kind.exact:
        want: Any = {"true": True, "false": False}.get(value, value)
        return lambda r: r.get(name) == want
    if kind.path == "calendar-events" and name in ("startDate", "endDate"):
        day = value[:10]
        if name == "startDate":
            return lambda r: str(r.get("startDateTime", ""))[:10] >= day
        return lambda r: str(r.get("startDateTime", ""))[:10] <= day
    return None
