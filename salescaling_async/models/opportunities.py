"""Opportunity models (reference.md §2.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import extra_field


@attrs.frozen(kw_only=True)
class Opportunity:
    """An opportunity.  ``risk``, ``priority`` and ``status`` are open strings: their value
    lists are not documented.

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    name: str | None = None
    amount: float | None = None
    final_amount: float | None = None
    risk: str | None = None
    priority: str | None = None
    description: str | None = None
    featured_notes: str | None = None
    next_step: str | None = None
    close_date: datetime | None = None
    close_probability: float | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class OpportunityCreate:
    """Body of ``POST /opportunities``; ``name`` is required.

    .. versionadded:: 0.1.0
    """

    name: str
    amount: float | None = None
    final_amount: float | None = None
    risk: str | None = None
    priority: str | None = None
    description: str | None = None
    featured_notes: str | None = None
    next_step: str | None = None
    close_date: datetime | None = None
    close_probability: float | None = None
    status: str | None = None
    extra: Mapping[str, Any] = extra_field()
