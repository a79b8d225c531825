"""``to_dict``/``from_dict`` and request bodies: the API's JSON, both ways, for every model."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import ConfigError, ResponseValidationError, from_dict, models, to_dict
from salescaling_async._convert import to_wire_body

from .strategies import model

EVERY_MODEL = [
    cls for name in models.__all__ if attrs.has(cls := getattr(models, name)) and "extra" in attrs.fields_dict(cls)
]


def test_every_model_class_is_covered() -> None:
    """The round-trip test below runs on every model of the public namespace with an ``extra``."""
    assert len(EVERY_MODEL) >= 20
    assert {m.__name__ for m in EVERY_MODEL} >= {"Contact", "ContactCreate", "CalendarEvent", "Company"}


@pytest.mark.parametrize("cls", EVERY_MODEL, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip_equals(cls: type, data: st.DataObject) -> None:
    """``from_dict(cls, to_dict(m)) == m``, also through a JSON text, and ``to_dict`` is stable."""
    instance = data.draw(model(cls))
    wire = to_dict(instance)
    assert from_dict(cls, json.loads(json.dumps(wire))) == instance
    assert to_dict(from_dict(cls, wire)) == wire


def test_to_dict_is_the_api_json() -> None:
    """camelCase names, millisecond ``Z`` datetimes, ``None`` left out, ``extra`` merged back."""
    contact = models.Contact(
        first_name="Ada",
        linkedin_url="https://l/ada",
        created_at=datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc),
        extra={"customScore": 7},
    )
    assert to_dict(contact) == {
        "firstName": "Ada",
        "linkedinUrl": "https://l/ada",
        "createdAt": "2024-01-15T10:00:00.000Z",
        "customScore": 7,
    }
    event = models.CalendarEvent(ical_uid="u1", participants=[models.Participant(email="a@x")])
    assert to_dict(event) == {"iCalUID": "u1", "participants": [{"email": "a@x"}]}


def test_from_dict_keeps_unknown_fields_and_reports_bad_ones() -> None:
    """Unknown keys go to ``extra``; a wrong type is a ResponseValidationError naming the field."""
    call = from_dict(models.Call, {"callId": "c1", "direction": "SIDEWAYS", "newThing": [1]})
    assert (call.id, call.direction, call.extra) == ("c1", "SIDEWAYS", {"newThing": [1]})
    with pytest.raises(ResponseValidationError, match=r"Call\.startDateTime"):
        from_dict(models.Call, {"startDateTime": "yesterday"})


@pytest.mark.parametrize("bad", [pytest.param(dict, id="dict"), pytest.param(int, id="int")])
def test_non_models_are_refused(bad: Any) -> None:
    """Only model classes and instances are accepted, with a ConfigError."""
    with pytest.raises(ConfigError, match="models"):
        from_dict(bad, {})
    with pytest.raises(ConfigError, match="models"):
        to_dict(bad())


def test_contact_create_has_email_and_provisional_fields() -> None:
    """``ContactCreate.email`` exists and the cut list's remaining Contact fields are typed."""
    body = models.ContactCreate(email="ada@x.io", title_position="CTO", reports_to="c0")
    assert to_dict(body) == {"email": "ada@x.io", "titlePosition": "CTO", "reportsTo": "c0"}
    writable = {f.name for f in attrs.fields(models.Contact)} - {"id", "created_at", "updated_at", "person_id"}
    assert writable <= {f.name for f in attrs.fields(models.ContactCreate)}
    event_fields = {f.name for f in attrs.fields(models.CalendarEventCreate)}
    assert {"participants", "conferencing", "recurrence", "metadata", "status"} <= event_fields


def test_mapping_body_snake_case_is_converted() -> None:
    """Python names of known fields become the API's names; camelCase keys and values pass, serialised."""
    when = datetime(2024, 7, 15, 10, tzinfo=timezone.utc)
    body = to_wire_body({"first_name": "Ada", "lastName": "L", "birthday": when, "customField": 1}, models.Contact)
    assert body == {"firstName": "Ada", "lastName": "L", "birthday": "2024-07-15T10:00:00.000Z", "customField": 1}
    assert to_wire_body({"ical_uid": "u"}, models.CalendarEvent) == {"iCalUID": "u"}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        pytest.param({"first_nam": "Ada"}, "no field 'first_nam'.*'firstNam'", id="unknown-snake"),
        pytest.param({"first_name": "A", "firstName": "B"}, "given twice", id="both-spellings"),
        pytest.param({1: "x"}, "strings", id="non-string-key"),
        pytest.param(["firstName"], "model or a mapping", id="not-a-mapping"),
    ],
)
def test_mapping_body_that_cannot_be_converted_is_refused(body: Any, match: str) -> None:
    """A body the API would misread raises ConfigError instead of being sent as-is."""
    with pytest.raises(ConfigError, match=match):
        to_wire_body(body, models.Contact)


async def test_create_through_the_client_converts_or_refuses_mapping_bodies() -> None:
    """At the simulator: a snake_case mapping arrives in camelCase; an unknown one is never sent."""
    from salescaling_async import AsyncSalescaling
    from salescaling_async.testing import Simulator

    async with Simulator(limits=None) as sim, AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
        made = await client.contacts.create({"first_name": "Ada", "email": "ada@x.io"})  # type: ignore[arg-type]
        assert (made.first_name, made.email) == ("Ada", "ada@x.io")
        typed = await client.contacts.create(models.ContactCreate(email="b@x.io", title_position="CTO"))
        assert (typed.email, typed.title_position) == ("b@x.io", "CTO")
        sent = sim.stats().accepted
        with pytest.raises(ConfigError, match="camelCase"):
            await client.companies.create({"legal_name": "Acme"})
        assert sim.stats().accepted == sent


async def test_bodies_json_cannot_encode_are_refused_before_a_slot_and_dates_are_converted() -> None:
    """A date in a mapping body becomes the API's date-time; a set, bytes, NaN or infinity is a
    ConfigError raised before any rate slot is taken or anything is sent."""
    import datetime as dt
    import math

    from salescaling_async import AsyncSalescaling
    from salescaling_async.testing import Simulator

    async with Simulator() as sim, AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
        created = await client.contacts.create({"firstName": "a", "birthday": dt.date(2020, 1, 2)})
        assert created.birthday is not None and created.birthday.date() == dt.date(2020, 1, 2)
        assert to_wire_body({"birthday": dt.date(1990, 1, 15)}, models.Contact) == {
            "birthday": "1990-01-15T00:00:00.000Z"
        }
        bad: list[Any] = [{"email": {1, 2}}, {"email": b"raw"}, {"n": math.nan}, {"n": -math.inf}]
        for body in bad:
            with pytest.raises(ConfigError, match="JSON body"):
                await client.contacts.create({"firstName": "a", **body})
            with pytest.raises(ConfigError, match="JSON body"):
                await client.request("POST", "contacts", json=body)
        assert client.statistics().granted == 1
        assert sim.stats().accepted == 1
