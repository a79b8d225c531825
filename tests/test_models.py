"""Models survive the wire: round trips, extra fields and unknown enum values never raise."""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import ResponseValidationError
from salescaling_async import models as m
from salescaling_async._convert import _is_open_enum, _plan, structure, unstructure

from .strategies import json_values, model

MODELS = [
    m.Call,
    m.CallType,
    m.CallUploadResult,
    m.Contact,
    m.ContactCreate,
    m.Opportunity,
    m.OpportunityCreate,
    m.User,
    m.Calendar,
    m.CalendarCreate,
    m.CalendarEvent,
    m.CalendarEventCreate,
    m.Participant,
    m.Conferencing,
    m.Company,
    m.Meeting,
    m.VoiceAgent,
    m.MeetingStatusChanged,
    m.MeetingNoteStatusChanged,
    m.CommercialSignalDetected,
]


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


def _wrong_values(tp: Any) -> st.SearchStrategy[Any] | None:
    """JSON values that are NOT of the field's type (None for fields that take anything)."""
    numbers = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))
    arrays = st.lists(json_values, max_size=3)
    objects = st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    strings = st.text(max_size=8)
    origin = typing.get_origin(tp)
    if tp is str or _is_open_enum(tp):
        return st.one_of(numbers, st.booleans(), arrays, objects)
    if tp is float:
        return st.one_of(strings, st.booleans(), arrays, objects)
    if tp is bool:
        return st.one_of(numbers, strings, arrays, objects)
    if tp is datetime:
        return st.one_of(numbers, st.booleans(), arrays, objects, st.sampled_from(["yesterday", "", "2024-13-01"]))
    if origin is list:
        return st.one_of(numbers, strings, st.booleans(), objects)
    if origin in (Mapping, dict):
        return st.one_of(numbers, strings, st.booleans(), arrays)
    if attrs.has(tp):
        return st.one_of(numbers, strings, st.booleans(), arrays)
    return None  # typing.Any


KNOWN_FIELDS = [(cls, wire, tp) for cls in MODELS for wire, _, tp in _plan(cls) if _wrong_values(tp) is not None]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_known_fields_of_the_wrong_type_raise_naming_the_field(data: st.DataObject) -> None:
    """A list or object (or any wrong type) in a known field is an error naming it, never a repr."""
    cls, wire, tp = data.draw(st.sampled_from(KNOWN_FIELDS), label="field")
    strategy = _wrong_values(tp)
    assert strategy is not None
    value = data.draw(strategy, label="value")
    with pytest.raises(ResponseValidationError) as info:
        structure({wire: value}, cls)
    assert any(line.startswith(f"{cls.__name__}.{wire}: ") for line in info.value.errors), info.value.errors


@pytest.mark.parametrize(
    ("payload", "line"),
    [
        pytest.param({"name": ["x"]}, "Call.name: expected a string, got array", id="list-in-string"),
        pytest.param({"name": {"a": 1}}, "Call.name: expected a string, got object", id="object-in-string"),
        pytest.param({"aiScore": True}, "Call.aiScore: expected a number, got bool", id="bool-in-number"),
        pytest.param({"direction": 3}, "Call.direction: expected a string, got int", id="number-in-enum"),
        pytest.param(
            {"callType": {"id": [1]}}, "Call.callType: CallType.id: expected a string, got array", id="nested"
        ),
        pytest.param({"callType": "x"}, "Call.callType: CallType: expected an object, got str", id="string-in-model"),
    ],
)
def test_wrong_type_messages(payload: dict[str, Any], line: str) -> None:
    """Each wrong type is named with the model, the JSON field and what arrived."""
    with pytest.raises(ResponseValidationError) as info:
        structure(payload, m.Call)
    assert info.value.errors == (line,)


def test_list_fields_take_arrays_only() -> None:
    """A string is not a list of characters, and a bad item names its index."""
    with pytest.raises(ResponseValidationError) as info:
        structure({"participants": "ab"}, m.CalendarEvent)
    assert info.value.errors == ("CalendarEvent.participants: expected an array, got str",)
    with pytest.raises(ResponseValidationError) as info:
        structure({"participants": [{"email": "a"}, 7]}, m.CalendarEvent)
    assert "item 1" in info.value.errors[0]
