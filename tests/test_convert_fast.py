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

from .conftest import in_threads
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


mixed_records = st.dictionaries(
    st.sampled_from(["id", "firstName", "createdAt", "callId", "direction", "duration", "x"]), json_values
)
"""Records of known and unknown keys with values of any JSON type (right or wrong for the field)."""


@pytest.mark.parametrize("cls", [m.Contact, m.Call], ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(values=mixed_records)
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


# -- the key-layout path: one generated function per layout of keys ---------------------------


def _layouts(cls: type) -> dict[tuple[Any, ...], Any]:
    """The functions generated so far for ``cls``'s key layouts (the hook's own table)."""
    layouts: dict[tuple[Any, ...], Any] = _converter.get_structure_hook(cls).__globals__["_compiled"]
    return layouts


def _forget_layouts(cls: type) -> None:
    """Empty ``cls``'s layout tables (a cache: other tests may have filled it to its cap)."""
    _converter.get_structure_hook(cls).__globals__["_learn"].__self__.forget()


def _twice(hook: Any, data: Any, cls: type) -> Any:
    """The outcome of a record whose layout was seen before (the second sighting generates)."""
    _forget_layouts(cls)
    _outcome(hook, copy.deepcopy(data), cls)
    outcome = _outcome(hook, data, cls)
    assert tuple(data) in _layouts(cls)  # the second record of the layout took its own function
    return outcome


def test_a_repeated_key_layout_gets_its_own_generated_function() -> None:
    """The second record of a layout generates its function; later ones of the layout use it."""
    record = {"id": "a", "firstName": "Ada", "createdAt": "2024-05-01T10:00:00.000Z", "brandNew": [1]}
    layout = tuple(record)
    _forget_layouts(m.Contact)
    structure_list([record], m.Contact)
    assert layout not in _layouts(m.Contact)  # one sighting: nothing compiled for a one-off
    built = structure_list([record, dict(record, id="b")], m.Contact)
    function = _layouts(m.Contact)[layout]
    assert function.__code__.co_filename == "<salescaling_async structure Contact layout>"
    assert built == [_checked_structure_hook(m.Contact)(r, m.Contact) for r in (record, dict(record, id="b"))]
    assert built[1].extra == {"brandNew": [1]} and built[1].salutation is None
    assert type(built[1]) is m.Contact
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built[1].id = "c"


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_layout_and_checked_agree_on_valid_records(cls: type, data: st.DataObject) -> None:
    """A record the server could send builds the same instance on the layout path."""
    wire = json.loads(json.dumps(unstructure(data.draw(model(cls)))))
    hook = _converter.get_structure_hook(cls)
    assert _twice(hook, wire, cls) == _outcome(_checked_structure_hook(cls), wire, cls)


@pytest.mark.parametrize("cls", [m.Contact, m.Call], ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(values=mixed_records)
def test_layout_and_checked_agree_on_any_values(cls: type, values: dict[str, Any]) -> None:
    """Wrong types, nulls and unknown keys end the same way on the layout path (result or error)."""
    hook = _converter.get_structure_hook(cls)
    assert _twice(hook, values, cls) == _outcome(_checked_structure_hook(cls), values, cls)


def test_a_bad_value_in_a_known_layout_raises_the_typed_error() -> None:
    """A record of a compiled layout with a value of the wrong type still names its field."""
    good = {"id": "a", "email": "a@example.com", "createdAt": "2024-05-01T10:00:00.000Z"}
    _forget_layouts(m.Contact)
    structure_list([good, good], m.Contact)
    assert tuple(good) in _layouts(m.Contact)
    for field, bad in (("email", ["a@example.com"]), ("createdAt", "yesterday"), ("id", 7)):
        with pytest.raises(ResponseValidationError, match=rf"Contact\.{field}"):
            structure_list([good, dict(good, **{field: bad})], m.Contact)


def test_layouts_are_bounded_and_the_rest_take_the_per_attribute_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap, and for layouts with many unknown keys, nothing is compiled; results agree."""
    from salescaling_async import _convert

    _forget_layouts(m.Contact)
    layouts = _layouts(m.Contact)
    monkeypatch.setattr(_convert, "_MAX_SHAPES", 2)
    records = [{"id": str(i), f"new{i}": i} for i in range(6)]
    for record in records:
        structure_list([record, record], m.Contact)
    assert list(layouts) == [tuple(records[0]), tuple(records[1])]
    later = {"firstName": "x", "brandNewLater": True}
    assert structure_list([later, later], m.Contact)[1].extra == {"brandNewLater": True}
    assert tuple(later) not in layouts
    wide = {"id": "w", **{f"k{i}": i for i in range(len(_plan(m.Contact)) + _convert._MAX_SHAPE_EXTRA_KEYS)}}
    monkeypatch.setattr(_convert, "_MAX_SHAPES", 10**6)
    assert structure_list([wide, wide], m.Contact)[1].extra == {k: v for k, v in wide.items() if k != "id"}
    assert tuple(wide) not in layouts


class _Records(list):  # type: ignore[type-arg]
    """A list subclass: still an array of records."""


@pytest.mark.parametrize(
    ("data", "ids"),
    [([{"id": "a"}, {"id": "b"}], ["a", "b"]), (_Records([{"id": "a"}]), ["a"]), ({"id": "a"}, ["a"]), (None, [])],
    ids=["array", "list-subclass", "one-object", "null"],
)
def test_a_list_endpoints_data_may_be_an_array_one_object_or_null(data: Any, ids: list[str]) -> None:
    """``data`` of a list endpoint: an array, one object (a documented quirk) or null (no records)."""
    assert [contact.id for contact in structure_list(data, m.Contact)] == ids


@pytest.mark.parametrize("data", ["a", 3, True], ids=["string", "number", "bool"])
def test_a_list_endpoints_data_of_another_type_raises_the_typed_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError, match="expected a list of Contact"):
        structure_list(data, m.Contact)


def test_threads_parsing_many_layouts_at_once_get_the_checked_result() -> None:
    """Blocking clients parse on their own portal threads: learning layouts concurrently is safe."""
    _forget_layouts(m.Contact)
    checked = _checked_structure_hook(m.Contact)
    known = {"id": "c", "firstName": "Ada", "email": "a@x", "createdAt": "2024-05-01T10:00:00.000Z"}
    fields = list(known)
    # 3 orders x 30 unknown keys: 90 layouts, past the cap of 64 compiled ones.
    layouts = [
        {**{key: known[key] for key in fields[index // 30 :] + fields[: index // 30]}, f"new{index % 30}": index}
        for index in range(90)
    ]
    errors: list[str] = []

    def parse(offset: int) -> None:
        for round_ in range(20):
            page = [dict(layouts[(offset * 7 + round_ * 10 + i) % len(layouts)]) for i in range(10)]
            if structure_list(page, m.Contact) != [checked(record, m.Contact) for record in page]:
                errors.append(f"thread {offset}, round {round_}")

    in_threads(parse, 4)
    assert errors == []
    assert len(_layouts(m.Contact)) == 64


def test_layouts_with_huge_or_non_string_keys_are_not_remembered() -> None:
    """Key names a hostile server makes huge are never held by the layout tables; results agree."""
    _forget_layouts(m.Contact)
    huge = {"id": "h", "x" * 5000: 1}
    odd: dict[Any, Any] = {"id": "o", 7: "seven"}  # from_dict callers may pass any keys
    for record in (huge, odd):
        built = structure_list([record, record, record], m.Contact)
        assert built[2] == _checked_structure_hook(m.Contact)(record, m.Contact)
        assert tuple(record) not in _layouts(m.Contact)
    sightings = _converter.get_structure_hook(m.Contact).__globals__["_learn"].__self__._sightings
    assert sightings == {}


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    {"id": "a", "firstName": "Ada", "createdAt": "2024-05-01T10:00:00.000Z"},
                    {"id": "b", "firstName": "Bo", "createdAt": "2024-05-01T10:00:00.000Z"},
                    {"firstName": "Cy", "id": "c"},
                    {"id": "d", "brandNew": [1]},
                ]
            ),
            mixed_records,
        ),
        max_size=12,
    )
)
def test_a_page_of_records_builds_what_each_record_builds(records: list[dict[str, Any]]) -> None:
    """``structure_list``'s one-loop path (records of one layout call its function straight
    away) gives the checked path's result record by record, whatever the mix of layouts and
    values, learned or not; a page with a bad record raises the typed error."""
    _forget_layouts(m.Contact)
    checked = [_outcome(_checked_structure_hook(m.Contact), r, m.Contact) for r in records]
    for _ in range(3):  # unseen layouts, second sightings, then generated functions
        try:
            built = structure_list(copy.deepcopy(records), m.Contact)
        except ResponseValidationError:
            assert any(outcome[0] == "error" for outcome in checked)
        else:
            assert [("ok", b) for b in built] == checked
