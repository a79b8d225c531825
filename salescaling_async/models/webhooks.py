"""Outgoing webhook event models (reference.md §2.8).

The delivered JSON carries no event-type field: the type is the one chosen when the webhook
was configured.  Receivers take it from their route (``event_type=``) or infer it from the
payload's shape; anything unrecognised becomes a :class:`GenericWebhookEvent`, never an error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Union

import attrs

from ._common import extra_field


class MeetingStatus(str, enum.Enum):
    """Known ``status`` values of ``meeting_status_changed``.

    .. versionadded:: 0.1.0
    """

    MEETING_CREATED = "meeting_created"
    MEETING_DELETED = "meeting_deleted"
    MEETING_TRANSCRIPT_DONE = "meeting_transcript_done"
    MEETING_SUMMARY_DONE = "meeting_summary_done"
    MEETING_VIDEO_DONE = "meeting_video_done"
    MEETING_NOTES_DONE = "meeting_notes_done"


class MeetingNoteStatus(str, enum.Enum):
    """Known ``status`` values of ``meeting_note_status_changed``.

    .. versionadded:: 0.1.0
    """

    MEETING_NOTE_CREATED = "meeting_note_created"
    MEETING_NOTE_DELETED = "meeting_note_deleted"
    MEETING_NOTE_UPDATED = "meeting_note_updated"


@attrs.frozen(kw_only=True)
class MeetingStatusChanged:
    """``meeting_status_changed``.

    .. versionadded:: 0.1.0
    """

    EVENT_TYPE = "meeting_status_changed"
    meeting_id: str | None = None
    status: MeetingStatus | str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class MeetingNoteStatusChanged:
    """``meeting_note_status_changed`` (the documented payload is cut after ``status``).

    .. versionadded:: 0.1.0
    """

    EVENT_TYPE = "meeting_note_status_changed"
    meeting_note_id: str | None = None
    status: MeetingNoteStatus | str | None = None
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class CommercialSignalDetected:
    """``commercial_signal_detected`` (payload undocumented: everything is in ``extra``).

    .. versionadded:: 0.1.0
    """

    EVENT_TYPE = "commercial_signal_detected"
    extra: Mapping[str, Any] = extra_field()


@attrs.frozen(kw_only=True)
class GenericWebhookEvent:
    """An event this SDK does not know; ``payload`` is the JSON as received.

    .. versionadded:: 0.1.0
    """

    event_type: str | None
    payload: Any


WebhookEvent = Union[MeetingStatusChanged, MeetingNoteStatusChanged, CommercialSignalDetected, GenericWebhookEvent]
