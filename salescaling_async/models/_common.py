"""Shared pieces of the models. Strictly private.

Every response model is a frozen attrs class with snake_case attributes, every attribute
optional (``None`` when the server omits it), and an ``extra`` mapping holding the fields
this SDK does not know yet, so that nothing the server sends is ever dropped.
"""

from __future__ import annotations

from typing import Any

import attrs

JSON_NAME = "json_name"
"""Field metadata key for a JSON name that the camelCase rule cannot derive."""


def extra_field() -> Any:
    """The ``extra`` attribute of every model: unknown JSON fields, kept verbatim."""
    return attrs.field(factory=dict, kw_only=True, repr=False, converter=dict)


def json_name(name: str) -> Any:
    """An optional attribute whose JSON name is given explicitly (e.g. ``iCalUID``)."""
    return attrs.field(default=None, kw_only=True, metadata={JSON_NAME: name})
