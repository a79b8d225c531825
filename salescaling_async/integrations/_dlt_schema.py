"""What each API resource becomes in dlt: table name, primary key, typed columns. Strictly private.

Column types come from the SDK's models, so a timestamp is a timestamp even when the first
page happens to hold only nulls:

* ``datetime`` -> ``timestamp``; ``bool`` -> ``bool``; ``float`` -> ``double``; ``int`` ->
  ``bigint``; ``str`` and open enums -> ``text``.
* ``Mapping`` fields (free-form ``metadata``, ``conferencing.details``) -> ``json``: their keys
  are the tenant's own, so they stay one column instead of one column per key.
* Nested models (``callType``, ``conferencing``) are flattened by dlt into
  ``call_type__id``-style columns; their leaves are typed the same way.
* Lists (``participants``, ``recurrence``) are left to dlt, which loads them as child tables
  (``calendar_events__participants``) linked by ``_dlt_parent_id``.

Fields the models do not know are not hinted: dlt infers and adds their columns (schema
evolution), so nothing the server sends is lost.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .._convert import _plan
from .._endpoints import ENDPOINTS

_SCALARS: dict[Any, str] = {datetime: "timestamp", bool: "bool", float: "double", int: "bigint", str: "text"}


@attrs.frozen
class ResourceSpec:
    """Strictly private. One API resource as a dlt resource."""

    name: str
    """Table and resource name (``calendar_events``), also the client attribute."""
    primary_key: str
    """JSON name of the id (``callId`` for calls, ``id`` elsewhere)."""
    model: Any

    @property
    def columns(self) -> dict[str, dict[str, Any]]:
        """dlt column hints keyed by JSON name (dlt normalises the names)."""
        hints = _columns(self.model, "")
        hints[self.primary_key] = {**hints.get(self.primary_key, {"data_type": "text"}), "nullable": False}
        return hints


def _columns(model: Any, prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for json_key, _attr, tp in _plan(model):
        name = prefix + json_key
        if attrs.has(tp):
            out.update(_columns(tp, name + "__"))
        elif (data_type := _data_type(tp)) is not None:
            out[name] = {"data_type": data_type, "nullable": True}
    return out


def _data_type(tp: Any) -> str | None:
    if tp in _SCALARS:
        return _SCALARS[tp]
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
    if str in args and all(a is str or (isinstance(a, type) and issubclass(a, enum.Enum)) for a in args):
        return "text"  # an open enum: SomeEnum | str
    origin = typing.get_origin(tp)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return "json"
    return None  # lists become child tables; anything else is left to dlt's inference


RESOURCES: dict[str, ResourceSpec] = {
    name: ResourceSpec(name, "callId" if name == "calls" else "id", ENDPOINTS[f"{name}.list"].model)
    for name in (
        "calls",
        "contacts",
        "companies",
        "meetings",
        "opportunities",
        "calendars",
        "calendar_events",
        "users",
        "voice_agents",
    )
}
"""Every listable resource, in the order the CLI shows them."""
