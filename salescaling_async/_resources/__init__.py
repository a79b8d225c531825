"""Resource groups of the client. Strictly private; re-exported by the package root."""

from .calendars import CalendarEvents as CalendarEvents
from .calendars import Calendars as Calendars
from .calls import Calls as Calls
from .contacts import Contacts as Contacts
from .opportunities import Opportunities as Opportunities
from .provisional import Companies as Companies
from .provisional import Meetings as Meetings
from .provisional import VoiceAgents as VoiceAgents
from .users import Users as Users

__all__ = [
    "CalendarEvents",
    "Calendars",
    "Calls",
    "Companies",
    "Contacts",
    "Meetings",
    "Opportunities",
    "Users",
    "VoiceAgents",
]
