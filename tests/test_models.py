"""Models survive the wire: round trips, extra fields and unknown enum values never raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import ResponseValidationError
from salescaling_async import models as m
from salescaling_async._convert import _plan, structure, unstructure

from .strategies import json_values, model

MODELS = [
    m.Call, m.CallType, m.CallUploadResult, m.Contact, m.ContactCreate, m.Opportunity, m.OpportunityCreate,
    m.User, m.Calendar, m.CalendarCreate, m.CalendarEvent, m.CalendarEventCreate, m.Participant,
    m.Conferencing, m.Company, m.Meeting, m.VoiceAgent, m.MeetingStatusChanged, m.MeetingNoteStatusChanged,
    m.CommercialSignalDetected,
]  # fmt: skip


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip_through_json(cls: type, data: st.DataObject) -> None:
    """Any instance serialises to JSON and parses back equal, extras included."""
    instance = data.draw(model(cls))
    wire = json.loads(json.dumps(unstructure(instance)))
    assert structure(wire, cls) == instance


CALL_FIELDS = frozenset(wire for wire, _, _ in _plan(m.Call))
unknown_keys = st.text(min_size=1).filter(lambda k: k not in CALL_FIELDS)


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(unknown_keys, json_values), direction=st.text())
def test_unknown_fields_and_enum_values_never_raise(extra: dict[str, Any], direction: str) -> None:
    """New server fields land in ``extra``; unknown enum values stay plain strings."""
    call = structure({"callId": "c", "direction": direction, **extra}, m.Call)
    assert call.extra == extra
    assert call.direction == direction


def test_missing_optional_fields_are_none() -> None:
    """An empty object parses with every attribute None."""
    contact = structure({}, m.Contact)
    assert contact.first_name is None and contact.created_at is None and contact.extra == {}


def test_inputs_omit_unset_fields() -> None:
    """Inputs serialise only what was set, with exact camelCase names."""
    assert unstructure(m.CalendarCreate(name="x", hex_foreground_color="#fff")) == {
        "name": "x",
        "hexForegroundColor": "#fff",
    }


def test_wrong_types_raise_validation_error_with_every_problem() -> None:
    """Values that cannot fit raise ResponseValidationError listing each field."""
    with pytest.raises(ResponseValidationError) as info:
        structure({"amount": "lots", "closeDate": "yesterday"}, m.Opportunity)
    assert len(info.value.errors) == 2 and "lots" in info.value.raw


def test_datetime_forms() -> None:
    """``Z``, offsets and milliseconds parse; output is UTC with milliseconds and ``Z``."""
    call = structure({"startDateTime": "2024-07-15T12:00:00.123+02:00"}, m.Call)
    assert unstructure(call)["startDateTime"] == "2024-07-15T10:00:00.123Z"
