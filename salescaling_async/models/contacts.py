"""Contact models (reference.md §2.2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import extra_field


@attrs.frozen(kw_only=True)
class Contact:
    """A contact.

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    salutation: str | None = None
    birthday: datetime | None = None
    email: str | None = None
    phone: str | None = None
    gender_identity: str | None = None
    pronouns: str | None = None
    fax: str | None = None
    linkedin_url: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    currency: str | None = None
    title_position: str | None = None
    language: str | None = None
    assistant: str | None = None
    assistant_phone: str | None = None
    division: str | None = None
    department: str | None = None
    description: str | None = None
    lead_source: str | None = None
    lead_record_type: str | None = None
    reports_to: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    person_id: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class ContactCreate:
    """Body of ``POST /contacts`` (path inferred, provisional).

    The documented field list is cut after ``currency`` and does not show ``email``.
    **Provisional fields:** ``email`` and every field after ``currency`` (``title_position``
    to ``reports_to``) are the writable fields of :class:`Contact`, typed so that they are
    spelled right on the wire; whether the server accepts each of them on create is not
    documented.  ``extra`` sends further fields verbatim (camelCase names).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``email`` and the provisional fields after ``currency``.
    """

    first_name: str | None = None
    last_name: str | None = None
    salutation: str | None = None
    birthday: datetime | None = None
    email: str | None = None
    phone: str | None = None
    gender_identity: str | None = None
    pronouns: str | None = None
    fax: str | None = None
    linkedin_url: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    currency: str | None = None
    # Provisional: the writable fields of Contact that the cut documentation does not show.
    title_position: str | None = None
    language: str | None = None
    assistant: str | None = None
    assistant_phone: str | None = None
    division: str | None = None
    department: str | None = None
    description: str | None = None
    lead_source: str | None = None
    lead_record_type: str | None = None
    reports_to: str | None = None
    extra: Mapping[str, Any] = extra_field()
