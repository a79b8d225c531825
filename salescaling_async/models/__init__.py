"""Typed models of the Salescaling API: frozen attrs classes with no JSON knowledge.

Conversion to and from JSON is done by the SDK's one private converter.  Unknown JSON fields
are kept in each model's ``extra`` mapping; enum-like fields accept unknown values as plain
strings.
"""

from .calendars import Calendar as Calendar
from .calendars import CalendarCreate as CalendarCreate
from .calendars import CalendarEvent as CalendarEvent
from .calendars import CalendarEventCreate as CalendarEventCreate
from .calendars import Conferencing as Conferencing
from .calendars import Participant as Participant
from .calls import Call as Call
from .calls import CallDirection as CallDirection
from .calls import CallType as CallType
from .calls import CallUploadResult as CallUploadResult
from .contacts import Contact as Contact
from .contacts import ContactCreate as ContactCreate
from .opportunities import Opportunity as Opportunity
from .opportunities import OpportunityCreate as OpportunityCreate
from .provisional import Company as Company
from .provisional import Meeting as Meeting
from .provisional import VoiceAgent as VoiceAgent
from .users import User as User
from .webhooks import CommercialSignalDetected as CommercialSignalDetected
from .webhooks import GenericWebhookEvent as GenericWebhookEvent
from .webhooks import MeetingNoteStatus as MeetingNoteStatus
from .webhooks import MeetingNoteStatusChanged as MeetingNoteStatusChanged
from .webhooks import MeetingStatus as MeetingStatus
from .webhooks import MeetingStatusChanged as MeetingStatusChanged
from .webhooks import WebhookEvent as WebhookEvent

__all__ = [
    "Calendar",
    "CalendarCreate",
    "CalendarEvent",
    "CalendarEventCreate",
    "Call",
    "CallDirection",
    "CallType",
    "CallUploadResult",
    "CommercialSignalDetected",
    "Company",
    "Conferencing",
    "Contact",
    "ContactCreate",
    "GenericWebhookEvent",
    "Meeting",
    "MeetingNoteStatus",
    "MeetingNoteStatusChanged",
    "MeetingStatus",
    "MeetingStatusChanged",
    "Opportunity",
    "OpportunityCreate",
    "Participant",
    "User",
    "VoiceAgent",
    "WebhookEvent",
]
