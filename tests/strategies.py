"""Hypothesis strategies for every model, derived from its attrs fields."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Union

import attrs
from hypothesis import strategies as st

from salescaling_async._convert import _plan

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)
datetimes_ms = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return st.one_of(*(for_type(a) for a in args))
    if tp is type(None):
        return st.none()
    if tp is str:
        return st.text(max_size=12)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if tp is bool:
        return st.booleans()
    if tp is datetime:
        return datetimes_ms
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if origin is list:
        return st.lists(for_type(args[0]), max_size=3)
    if origin in (Mapping, dict) or tp is typing.Any:
        return st.dictionaries(st.text(max_size=5), json_values, max_size=3)
    if attrs.has(tp):
        return model(tp)
    raise NotImplementedError(tp)


def model(cls: type) -> st.SearchStrategy[Any]:
    plan = _plan(cls)
    known = {j for j, _, _ in plan}
    fields = {
        attr: for_type(tp) if _required(cls, attr) else st.one_of(st.none(), for_type(tp)) for _, attr, tp in plan
    }
    extra = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in known), json_values, max_size=3)
    return st.builds(cls, **fields, extra=extra)


def _required(cls: type, attr: str) -> bool:
    return attrs.fields_dict(cls)[attr].default is attrs.NOTHING
