"""User models (reference.md §2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._common import extra_field


@attrs.frozen(kw_only=True)
class User:
    """A user of the tenant.

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    position: str | None = None
    metadata: Mapping[str, Any] | None = None
    person_id: str | None = None
    extra: Mapping[str, Any] = extra_field()
