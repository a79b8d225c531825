"""Resource groups of the client. Strictly private; re-exported by the package root.

:class:`Groups` is the one registration point: both clients inherit it (the async one as
:data:`ResourceGroups`, the blocking one as :data:`BlockingGroups`), so adding a resource is
one :class:`resource` attribute here (plus its endpoints, model and module), on both clients
at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from ._base import AsyncMode as AsyncMode
from ._base import BlockingMode as BlockingMode
from ._base import M
from ._base import Raw as Raw
from ._base import Requester as Requester
from ._blocking import Runner as Runner
from ._blocking import SyncPaginator as SyncPaginator
from ._raw import APIResponse as APIResponse
from .calendars import CalendarEvents as CalendarEvents
from .calendars import Calendars as Calendars
from .calls import Calls as Calls
from .contacts import Contacts as Contacts
from .opportunities import Opportunities as Opportunities
from .provisional import Companies as Companies
from .provisional import Meetings as Meetings
from .provisional import VoiceAgents as VoiceAgents
from .users import Users as Users

G = TypeVar("G")
R = TypeVar("R")

__all__ = [
    "APIResponse",
    "AsyncMode",
    "BlockingGroups",
    "BlockingMode",
    "CalendarEvents",
    "Calendars",
    "Calls",
    "Companies",
    "Contacts",
    "Meetings",
    "Groups",
    "Opportunities",
    "Raw",
    "Requester",
    "ResourceGroups",
    "Runner",
    "SyncPaginator",
    "Users",
    "VoiceAgents",
]


class resource(Generic[G, R]):
    """Strictly private. A resource attribute, built on first access and kept by the instance.

    What :func:`functools.cached_property` does, for less per view: no lock (Python 3.11
    takes one on every first access) and the value is stored with ``setattr``, so the
    instance's attributes stay inline (``cached_property`` writes to ``__dict__``, which
    makes every view carry one more object for the garbage collector to walk).  The stored
    value shadows this non-data descriptor from then on: later accesses are plain attribute
    reads.
    """

    def __init__(self, build: Callable[[G], R]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> resource[G, R]: ...

    @overload
    def __get__(self, obj: G, owner: type[Any] | None = None) -> R: ...

    def __get__(self, obj: G | None, owner: type[Any] | None = None) -> R | resource[G, R]:
        if obj is None:
            return self
        value = self._build(obj)
        setattr(obj, self._name, value)
        return value


class Groups(Generic[M]):
    """Strictly private. The client's resource attributes, each built once per view.

    The inheriting client sets ``_requester``, the :class:`Requester` the resources call, and
    the blocking client ``_runner``, which runs them on its loop.
    """

    _requester: Requester
    _runner: Runner | None = None

    @resource
    def calls(self) -> Calls[M]:
        """Calls: list, get, upload."""
        return Calls(self._requester, self._runner)

    @resource
    def contacts(self) -> Contacts[M]:
        """Contacts: list, get, create."""
        return Contacts(self._requester, self._runner)

    @resource
    def companies(self) -> Companies[M]:
        """Companies (provisional): list, get, create."""
        return Companies(self._requester, self._runner)

    @resource
    def meetings(self) -> Meetings[M]:
        """Meetings (provisional): list, get, create."""
        return Meetings(self._requester, self._runner)

    @resource
    def opportunities(self) -> Opportunities[M]:
        """Opportunities: list, get, create."""
        return Opportunities(self._requester, self._runner)

    @resource
    def calendars(self) -> Calendars[M]:
        """Calendars: list, get, create."""
        return Calendars(self._requester, self._runner)

    @resource
    def calendar_events(self) -> CalendarEvents[M]:
        """Calendar events: list, get, create."""
        return CalendarEvents(self._requester, self._runner)

    @resource
    def users(self) -> Users[M]:
        """Users: list, metadata update."""
        return Users(self._requester, self._runner)

    @resource
    def voice_agents(self) -> VoiceAgents[M]:
        """Voice agents (provisional): list, get, create."""
        return VoiceAgents(self._requester, self._runner)


ResourceGroups = Groups[AsyncMode]
"""What ``AsyncSalescaling`` inherits: every resource with coroutine methods."""

BlockingGroups = Groups[BlockingMode]
"""What ``Salescaling`` inherits: every resource with blocking methods."""
