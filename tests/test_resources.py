"""Every wrapped operation: exact method, path, query and body; documented examples parse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from typing import Any

import pytest

from salescaling_async import AsyncSalescaling, ConfigError
from salescaling_async._endpoints import ENDPOINTS
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.models import (
    Calendar,
    CalendarCreate,
    CalendarEvent,
    CalendarEventCreate,
    Call,
    CallDirection,
    ContactCreate,
    Opportunity,
    OpportunityCreate,
    User,
)
from salescaling_async.testing import FakeClock, FakeTransport, json_response

BASE = "https://api.salescaling.com/api/v1/"
UUID = "5516cd47-2bd0-4f4f-adc2-22524e54ba4d"

# Documented examples (reference.md), verbatim structure.
CALL = {
    "callId": UUID,
    "status": "completed",
    "name": "Sales Call with Acme Corp",
    "startDateTime": "2024-07-15T10:00:00.000Z",
    "endDateTime": "2024-07-15T11:00:00.000Z",
    "duration": 3600,
    "description": "Discussion about new product features",
    "language": "en",
    "direction": "OUTBOUND",
    "fromNumber": "+1234567890",
    "toNumber": "+0987654321",
    "callType": {"id": "type123", "name": "Sales Call"},
    "aiScore": 0.95,
    "url": f"https://app.salescaling.com/calls/{UUID}",
}
CONTACT = {
    "id": UUID,
    "firstName": "John",
    "lastName": "Doe",
    "salutation": "Mr.",
    "birthday": "1990-01-15T00:00:00.000Z",
    "email": "john@example.com",
    "phone": "+1-555-123-4567",
    "genderIdentity": "Male",
    "pronouns": "he/him",
    "linkedinUrl": "https://linkedin.com/in/johndoe",
    "city": "New York",
    "titlePosition": "Software Engineer",
    "leadSource": "Website",
    "reportsTo": UUID,
    "createdAt": "2024-01-15T10:00:00.000Z",
    "personId": UUID,
}
OPPORTUNITY = {
    "id": UUID,
    "name": "Enterprise Software License",
    "amount": 50000,
    "finalAmount": 45000,
    "risk": "Low",
    "priority": "High",
    "nextStep": "FollowUp",
    "closeDate": "2024-03-10T00:00:00.000Z",
    "closeProbability": 75,
    "status": "open",
}
USER = {
    "id": UUID,
    "email": "john@example.com",
    "firstName": "John",
    "lastName": "Doe",
    "phone": "+1234567890",
    "position": "Sales Manager",
    "metadata": {"salesRegion": "North", "customerId": "12345"},
    "personId": UUID,
}
CALENDAR = {
    "id": UUID,
    "name": "My Calendar",
    "description": "My personal calendar for work events",
    "hexColor": "#4285f4",
    "hexForegroundColor": "#ffffff",
    "isPrimary": False,
    "location": "New York, NY",
    "timezone": "America/New_York",
    "readOnly": False,
    "metadata": {"customField": "value"},
    "createdAt": "2024-07-15T09:00:00.000Z",
}
EVENT = {
    "id": UUID,
    "calendarId": UUID,
    "title": "Team Meeting",
    "startDateTime": "2024-07-15T10:00:00.000Z",
    "status": "confirmed",
    "busy": True,
    "iCalUID": "abc@google.com",
    "nylasId": "nylas_event_123",
    "masterEventId": "master_event_123",
    "duration": 3600,
    "recurrence": ["FREQ=WEEKLY;BYDAY=MO"],
    "participants": [{"email": "john@example.com", "name": "John Doe", "status": "yes"}],
    "conferencing": {"provider": "Zoom Meeting", "details": {"url": "https://zoom.us/j/1"}},
}

Op = Callable[[AsyncSalescaling], Awaitable[Any]]


def _first(paginator: Any) -> Awaitable[Any]:
    return paginator.first_page()  # type: ignore[no-any-return]


def _listing(op: Op, path: str, filters: dict[str, str], record: Any, *, name: str, page: str = "1") -> Any:
    """A listing case: ``filters`` and the page parameters in the query, no body, one ``record`` back."""
    return pytest.param(op, "GET", path, {**filters, "page": page, "limit": "100"}, None, [record], id=name)


def _provisional_cases(attr: str, path: str, record: dict[str, str]) -> list[Any]:
    """list, get and create of a provisional resource: ``record`` is sent and answered verbatim."""
    record_id, body = record["id"], {k: v for k, v in record.items() if k != "id"}

    def resource(c: AsyncSalescaling) -> Any:
        return getattr(c, attr)

    return [
        _listing(lambda c: _first(resource(c).list()), path, {}, record, name=f"{attr}.list"),
        pytest.param(
            lambda c: resource(c).get(record_id), "GET", f"{path}/{record_id}", {}, None, record, id=f"{attr}.get"
        ),
        pytest.param(lambda c: resource(c).create(body), "POST", path, {}, body, record, id=f"{attr}.create"),
    ]


WHEN = datetime(2024, 7, 18, 14, 0, tzinfo=timezone.utc)
CASES: list[Any] = [
    pytest.param(
        lambda c: _first(c.calls.list(name="Acme", page_size=5)),
        "GET",
        "calls",
        {"name": "Acme", "page": "1", "limit": "5"},
        None,
        [CALL],
        id="calls.list",
    ),
    pytest.param(lambda c: c.calls.get(UUID), "GET", f"calls/{UUID}", {}, None, CALL, id="calls.get"),
    pytest.param(
        lambda c: c.calls.upload(name="Rec", start_date_time=WHEN, media_url="https://x/y.mp3", description="d"),
        "POST",
        "calls/upload",
        {},
        {"name": "Rec", "startDateTime": "2024-07-18T14:00:00.000Z", "mediaUrl": "https://x/y.mp3", "description": "d"},
        {"callId": UUID},
        id="calls.upload",
    ),
    _listing(
        lambda c: _first(c.contacts.list(name="Jo", email="@x", opportunity_id="o1", company_id="c1", start_page=3)),
        "contacts",
        {"name": "Jo", "email": "@x", "opportunityId": "o1", "companyId": "c1"},
        CONTACT,
        name="contacts.list",
        page="3",
    ),
    pytest.param(lambda c: c.contacts.get(UUID), "GET", f"contacts/{UUID}", {}, None, CONTACT, id="contacts.get"),
    pytest.param(
        lambda c: c.contacts.create(
            ContactCreate(first_name="John", linkedin_url="l", birthday=datetime(1990, 1, 15, tzinfo=timezone.utc))
        ),
        "POST",
        "contacts",
        {},
        {"firstName": "John", "linkedinUrl": "l", "birthday": "1990-01-15T00:00:00.000Z"},
        CONTACT,
        id="contacts.create",
    ),
    _listing(
        lambda c: _first(c.opportunities.list(name="Ent", contact_id="c9")),
        "opportunities",
        {"name": "Ent", "contactId": "c9"},
        OPPORTUNITY,
        name="opportunities.list",
    ),
    pytest.param(
        lambda c: c.opportunities.get(UUID),
        "GET",
        f"opportunities/{UUID}",
        {},
        None,
        OPPORTUNITY,
        id="opportunities.get",
    ),
    pytest.param(
        lambda c: c.opportunities.create(OpportunityCreate(name="E", amount=50000, close_probability=75)),
        "POST",
        "opportunities",
        {},
        {"name": "E", "amount": 50000, "closeProbability": 75},
        OPPORTUNITY,
        id="opportunities.create",
    ),
    _listing(
        lambda c: _first(c.users.list(email="j", phone="+1", metadata={"salesRegion": "North"})),
        "users",
        {"email": "j", "phone": "+1", "metadata": "[salesRegion=North]"},
        USER,
        name="users.list",
    ),
    pytest.param(
        lambda c: c.users.update_metadata(UUID, {"salesRegion": "South"}),
        "PUT",
        f"users/{UUID}/metadata",
        {},
        {"metadata": {"salesRegion": "South"}},
        {"salesRegion": "South"},
        id="users.update_metadata",
    ),
    _listing(
        lambda c: _first(c.calendars.list(name="My", is_primary=True, read_only=False)),
        "calendars",
        {"name": "My", "isPrimary": "true", "readOnly": "false"},
        CALENDAR,
        name="calendars.list",
    ),
    pytest.param(lambda c: c.calendars.get(UUID), "GET", f"calendars/{UUID}", {}, None, CALENDAR, id="calendars.get"),
    pytest.param(
        lambda c: c.calendars.create(
            CalendarCreate(name="My Calendar", hex_color="#4285f4", is_primary=False, metadata={"a": 1})
        ),
        "POST",
        "calendars",
        {},
        {"name": "My Calendar", "hexColor": "#4285f4", "isPrimary": False, "metadata": {"a": 1}},
        CALENDAR,
        id="calendars.create",
    ),
    pytest.param(
        lambda c: _first(
            c.calendar_events.list(
                start_date=date(2025, 1, 1), end_date="2025-02-01", calendar_id=UUID, status="confirmed"
            )
        ),
        "GET",
        "calendar-events",
        {
            "startDate": "2025-01-01",
            "endDate": "2025-02-01",
            "calendarId": UUID,
            "status": "confirmed",
            "page": "1",
            "limit": "100",
        },
        None,
        [EVENT],
        id="calendar_events.list",
    ),
    pytest.param(
        lambda c: c.calendar_events.get(UUID),
        "GET",
        f"calendar-events/{UUID}",
        {},
        None,
        EVENT,
        id="calendar_events.get",
    ),
    pytest.param(
        lambda c: c.calendar_events.create(CalendarEventCreate(calendar_id=UUID, title="T", start_date_time=WHEN)),
        "POST",
        "calendar-events",
        {},
        {"calendarId": UUID, "title": "T", "startDateTime": "2024-07-18T14:00:00.000Z"},
        EVENT,
        id="calendar_events.create",
    ),
    *_provisional_cases("companies", "companies", {"id": "c", "name": "Acme"}),
    *_provisional_cases("meetings", "meetings", {"id": "m", "title": "x"}),
    *_provisional_cases("voice_agents", "voice-agents", {"id": "v", "name": "Agent"}),
]


@pytest.mark.parametrize(("op", "method", "path", "query", "body", "data"), CASES)
async def test_operation_sends_exactly_what_is_documented(
    clock: FakeClock, drive: Any, op: Op, method: str, path: str, query: dict[str, str], body: Any, data: Any
) -> None:
    """Method, path, query names and body match the reference; the response parses."""
    seen: list[RawRequest] = []

    def handler(request: RawRequest) -> RawResponse:
        seen.append(request)
        return json_response(data)

    client = AsyncSalescaling("k", transport=FakeTransport(handler), clock=clock)
    result = await drive(op(client))
    (request,) = seen
    assert request.method == method
    assert request.url == BASE + path
    assert dict(request.params) == query and len(request.params) == len(query)
    if request.files or request.form is not None:
        assert dict(request.form or {}) == body
    else:
        assert request.json == body
    assert result is not None


def test_every_endpoint_is_covered() -> None:
    """The table above covers every declared endpoint."""
    covered = {p.id for p in CASES}
    assert covered == set(ENDPOINTS)


async def test_documented_call_example_parses(clock: FakeClock, drive: Any) -> None:
    """The Call example parses with the right values, typed."""
    client = AsyncSalescaling("k", transport=FakeTransport(lambda r: json_response(CALL)), clock=clock)
    page = await drive(client.calls.list().first_page())
    (call,) = page.items  # `data` is one object in the docs: accepted as a one-item list
    assert isinstance(call, Call) and call.call_id == UUID == call.id
    assert call.direction is CallDirection.OUTBOUND
    assert call.start_date_time == datetime(2024, 7, 15, 10, tzinfo=timezone.utc)
    assert call.call_type is not None and call.call_type.name == "Sales Call"
    assert call.ai_score == 0.95 and call.duration == 3600


async def test_documented_examples_parse_into_models(clock: FakeClock, drive: Any) -> None:
    """Contact, opportunity, user, calendar and event examples keep their values."""
    responses = {"opportunities": [OPPORTUNITY], "users": [USER], "calendars": [CALENDAR], "calendar-events": [EVENT]}

    def handler(request: RawRequest) -> RawResponse:
        return json_response(responses[request.url.rsplit("/", 1)[1]])

    client = AsyncSalescaling("k", transport=FakeTransport(handler), clock=clock)
    (opp,) = (await drive(client.opportunities.list().first_page())).items
    assert isinstance(opp, Opportunity) and opp.final_amount == 45000 and opp.risk == "Low"
    (user,) = (await drive(client.users.list().first_page())).items
    assert isinstance(user, User) and user.metadata == {"salesRegion": "North", "customerId": "12345"}
    (cal,) = (await drive(client.calendars.list().first_page())).items
    assert isinstance(cal, Calendar) and cal.hex_foreground_color == "#ffffff" and cal.is_primary is False
    (event,) = (await drive(client.calendar_events.list().first_page())).items
    assert isinstance(event, CalendarEvent) and event.ical_uid == "abc@google.com"
    assert event.participants is not None and event.participants[0].status == "yes"
    assert event.conferencing is not None and event.conferencing.details == {"url": "https://zoom.us/j/1"}


@pytest.mark.parametrize(
    "op",
    [
        pytest.param(lambda c: c.contacts.get(""), id="empty-id"),
        pytest.param(lambda c: c.contacts.get("a/b"), id="slash-id"),
        pytest.param(lambda c: c.calls.upload(name="x", start_date_time=WHEN), id="upload-no-source"),
        pytest.param(
            lambda c: c.calls.upload(name="x", start_date_time=WHEN, media_url="u", file=b"x"), id="upload-two-sources"
        ),
        pytest.param(
            lambda c: c.calls.upload(name="x", start_date_time=WHEN, file="/no/such/file"), id="upload-missing-file"
        ),
        pytest.param(lambda c: c.users.update_metadata(UUID, ["not", "a", "map"]), id="metadata-not-map"),
        pytest.param(lambda c: c.companies.create({}), id="provisional-empty"),
        pytest.param(lambda c: c.contacts.list(page_size=0).first_page(), id="page-size"),
    ],
)
async def test_bad_input_fails_before_sending(clock: FakeClock, op: Op) -> None:
    """Invalid arguments raise ConfigError and nothing is sent."""
    transport = FakeTransport(lambda r: json_response(None))
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    with pytest.raises(ConfigError):
        await op(client)
    assert transport.requests == []


async def test_upload_sends_file_as_multipart(clock: FakeClock, drive: Any) -> None:
    """A file upload carries the form fields and one file part."""
    transport = FakeTransport(lambda r: json_response({"callId": UUID}, status=201))
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    result = await drive(client.calls.upload(name="R", start_date_time=WHEN, file=b"RIFF", filename="r.wav"))
    assert result.call_id == UUID
    (request,) = transport.requests
    assert request.form == {"name": "R", "startDateTime": "2024-07-18T14:00:00.000Z"}
    assert [(f.field, f.filename, f.content) for f in request.files] == [("file", "r.wav", b"RIFF")]
