"""Call models (reference.md §2.1)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from ._common import extra_field


class CallDirection(str, enum.Enum):
    """Known values of :attr:`Call.direction`; unknown values arrive as plain strings.

    .. versionadded:: 0.1.0
    """

    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


@attrs.frozen(kw_only=True)
class CallType:
    """The type of a call (``callType``).

    .. versionadded:: 0.1.0
    """

    id: str | None = None
    name: str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class Call:
    """A call.  Its id is ``call_id`` (``callId`` on the wire).

    .. versionadded:: 0.1.0
    """

    call_id: str | None = None
    status: str | None = None
    name: str | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    duration: float | None = None
    description: str | None = None
    language: str | None = None
    direction: CallDirection | str | None = None
    from_number: str | None = None
    to_number: str | None = None
    call_type: CallType | None = None
    ai_score: float | None = None
    url: str | None = None
    extra: Mapping[str, Any] = extra_field()

    @property
    def id(self) -> str | None:
        """Alias of :attr:`call_id`, so every model has an ``id``."""
        return self.call_id


@attrs.frozen(kw_only=True)
class CallUploadResult:
    """What ``POST /calls/upload`` returns: the new call's id.

    .. versionadded:: 0.1.0
    """

    call_id: str | None = None
    extra: Mapping[str, Any] = extra_field()

    @property
    def id(self) -> str | None:
        return self.call_id
