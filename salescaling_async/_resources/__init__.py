"""Resource groups of the client. Strictly private; re-exported by the package root.

:class:`ResourceGroups` is the one registration point: the client inherits it, so adding a
resource is one cached property here (plus its endpoints, model and module).
"""

from __future__ import annotations

from functools import cached_property

from ._base import Requester as Requester
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
    "Requester",
    "ResourceGroups",
    "Users",
    "VoiceAgents",
]


class ResourceGroups:
    """Strictly private. The client's resource attributes, each built once per view.

    The inheriting client sets ``_requester``, the :class:`Requester` the resources call.
    """

    _requester: Requester

    @cached_property
    def calls(self) -> Calls:
        """Calls: list, get, upload."""
        return Calls(self._requester)

    @cached_property
    def contacts(self) -> Contacts:
        """Contacts: list, get, create."""
        return Contacts(self._requester)

    @cached_property
    def companies(self) -> Companies:
        """Companies (provisional): list, get, create."""
        return Companies(self._requester)

    @cached_property
    def meetings(self) -> Meetings:
        """Meetings (provisional): list, get, create."""
        return Meetings(self._requester)

    @cached_property
    def opportunities(self) -> Opportunities:
        """Opportunities: list, get, create."""
        return Opportunities(self._requester)

    @cached_property
    def calendars(self) -> Calendars:
        """Calendars: list, get, create."""
        return Calendars(self._requester)

    @cached_property
    def calendar_events(self) -> CalendarEvents:
        """Calendar events: list, get, create."""
        return CalendarEvents(self._requester)

    @cached_property
    def users(self) -> Users:
        """Users: list, metadata update."""
        return Users(self._requester)

    @cached_property
    def voice_agents(self) -> VoiceAgents:
        """Voice agents (provisional): list, get, create."""
        return VoiceAgents(self._requester)
