"""Companies, meetings and voice agents: **provisional** resources.

Their reference pages are missing (reference.md §2.7).  The paths follow the API's
conventions (``GET /{resource}``, ``GET /{resource}/{id}``, ``POST /{resource}``), models keep
every field in ``extra``, and ``create`` sends the mapping it is given verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from .._endpoints import (
    COMPANIES_CREATE,
    COMPANIES_GET,
    COMPANIES_LIST,
    MEETINGS_CREATE,
    MEETINGS_GET,
    MEETINGS_LIST,
    VOICE_AGENTS_CREATE,
    VOICE_AGENTS_GET,
    VOICE_AGENTS_LIST,
    Endpoint,
)
from .._errors import ConfigError
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Company, Meeting, VoiceAgent
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
)
from ._bulk_mixin import BulkCreate
from ._operations import listing, operation

RawT = TypeVar("RawT")
Model = TypeVar("Model")


class _Provisional(Resource[M, RawT], BulkCreate[Mapping[str, Any], Model], Generic[M, RawT, Model]):
    _list_endpoint: Endpoint[Model]
    _get_endpoint: Endpoint[Model]
    _create_endpoint: Endpoint[Model]

    @listing
    def list(
        self,
        *,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[Model]:
        """Every record. Provisional path."""
        return self._list(
            self._list_endpoint, {}, page_size=page_size, start_page=start_page, prefetch=prefetch, priority=priority
        )

    @operation
    async def get(self, id: str) -> Model:
        """One record by id. Provisional path."""
        return await self._get(self._get_endpoint, id)

    @operation
    async def create(self, fields: Mapping[str, Any]) -> Model:
        """Create a record from camelCase ``fields`` sent verbatim. Provisional path."""
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigError("fields must be a non-empty mapping of camelCase names")
        return await self._create(self._create_endpoint, dict(fields))


class Companies(_Provisional[M, "Companies[Raw[M]]", Company]):
    """``client.companies`` (provisional). .. versionadded:: 0.1.0"""

    _list_endpoint = COMPANIES_LIST
    _get_endpoint = COMPANIES_GET
    _create_endpoint = COMPANIES_CREATE


class Meetings(_Provisional[M, "Meetings[Raw[M]]", Meeting]):
    """``client.meetings`` (provisional). .. versionadded:: 0.1.0"""

    _list_endpoint = MEETINGS_LIST
    _get_endpoint = MEETINGS_GET
    _create_endpoint = MEETINGS_CREATE


class VoiceAgents(_Provisional[M, "VoiceAgents[Raw[M]]", VoiceAgent]):
    """``client.voice_agents`` (provisional; the call-initiation webhook is undocumented,
    use ``client.request`` for it). .. versionadded:: 0.1.0"""

    _list_endpoint = VOICE_AGENTS_LIST
    _get_endpoint = VOICE_AGENTS_GET
    _create_endpoint = VOICE_AGENTS_CREATE
