"""Shared aliases, the UNSET sentinel and small enums. Standard library only."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, Literal, Union

JSON = Any
"""A decoded JSON value."""

ParamValue = Union[str, int, float, bool, None]
Params = Mapping[str, Union[ParamValue, "list[ParamValue]"]]


class UnsetType(enum.Enum):
    """Type of :data:`UNSET`: "not passed", distinct from ``None``.

    .. versionadded:: 0.1.0
    """

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = UnsetType.UNSET


class Priority(enum.Enum):
    """Scheduling lane of a request.

    ``INTERACTIVE`` requests are granted before ``BULK`` ones; bulk requests still get a
    share of grants so they never starve.

    .. versionadded:: 0.1.0
    """

    INTERACTIVE = "interactive"
    BULK = "bulk"
