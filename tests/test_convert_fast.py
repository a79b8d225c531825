"""The generated fast hooks give exactly what the checked, field-by-field path gives."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import ResponseValidationError
from salescaling_async import models as m
from salescaling_async._convert import (
    _checked_structure_hook,
    _converter,
    _plain_slotted,
    _plan,
    structure,
    structure_list,
    unstructure,
)

from .strategies import json_values, model

FAST = [
    cls
    for cls in (m.Call, m.Contact, m.Opportunity, m.User, m.CalendarEvent, m.Company, m.Meeting)
    if _plain_slotted(cls)
]


def _outcome(hook: Any, data: Any, cls: type) -> Any:
    try:
        return ("ok", hook(data, cls))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


def test_the_common_response_models_take_the_generated_path() -> None:
    """Response models are plain and slotted; input models with required fields are not."""
    assert m.Contact in FAST and m.Call in FAST
    assert not _plain_slotted(m.OpportunityCreate)
    assert _converter.get_structure_hook(m.Contact).__code__.co_filename.startswith("<salescaling_async structure")


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_fast_and_checked_agree_on_valid_records(cls: type, data: st.DataObject) -> None:
    """A record the server could send builds the same instance (extras included) on both paths."""
    wire = json.loads(json.dumps(unstructure(data.draw(model(cls)))))
    assert _outcome(_converter.get_structure_hook(cls), wire, cls) == _outcome(_checked_structure_hook(cls), wire, cls)


@pytest.mark.parametrize("cls", [m.Contact, m.Call], ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["id", "firstName", "createdAt", "callId", "direction", "duration", "x"]), json_values
    )
)
def test_fast_and_checked_agree_on_any_values(cls: type, values: dict[str, Any]) -> None:
    """Wrong types, nulls and unknown keys end the same way on both paths (result or error)."""
    assert _outcome(_converter.get_structure_hook(cls), values, cls) == _outcome(
        _checked_structure_hook(cls), values, cls
    )


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_the_generated_path_gives_frozen_instances_of_the_model_itself(cls: type) -> None:
    """The instance is filled as a mutable twin, then is exactly ``cls``: frozen, picklable, equal."""
    built = structure_list([{"id": "a", "someNewField": 1}], cls)[0]
    assert type(built) is cls
    assert built == _checked_structure_hook(cls)({"id": "a", "someNewField": 1}, cls)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.id = "b"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del built.id
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.deepcopy(built) == built


def test_a_bad_record_in_a_page_names_its_field() -> None:
    """A page with one bad record raises the typed error of the checked path."""
    page = [{"id": "a"}, {"id": "b", "createdAt": "not a date"}]
    with pytest.raises(ResponseValidationError, match=r"Contact\.createdAt"):
        structure_list(page, m.Contact)


CONTACT_FIELDS = sorted(wire for wire, _, _ in _plan(m.Contact))


@settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(st.sampled_from(CONTACT_FIELDS), json_values, min_size=1))
def test_known_fields_with_any_json_value_parse_or_raise_typed(values: dict[str, Any]) -> None:
    """Known fields holding any JSON value (wrong types included) give a model or the typed error."""
    errors: tuple[str, ...] = ()
    try:
        contact = structure(values, m.Contact)
    except ResponseValidationError as exc:
        errors = exc.errors
        assert errors, "a typed error names at least one field"
    else:
        assert contact.extra == {}  # known keys never leak into extra
