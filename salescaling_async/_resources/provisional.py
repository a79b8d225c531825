"""Companies, meetings and voice agents: **provisional** resources.

Their reference pages are missing (reference.md §2.7).  The paths follow the API's
conventions (``GET /{resource}``, ``GET /{resource}/{id}``, ``POST /{resource}``), models keep
every field in ``extra``, and ``create`` sends the mapping it is given verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from .._bulk_resource import BulkCreate
from .._errors import ConfigError
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Company, Meeting, VoiceAgent
from ._base import Resource

M = TypeVar("M")


class _Provisional(Resource, BulkCreate[Mapping[str, Any], M], Generic[M]):
    _model: type[M]

    def list(
        self,
        *,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[M]:
        """Every record. Provisional path."""
        return self._list("list", self._model, {}, page_size=page_size, start_page=start_page,
                          prefetch=prefetch, priority=priority)  # fmt: skip

    async def get(self, id: str) -> M:
        """One record by id. Provisional path."""
        return await self._get("get", self._model, id)

    async def create(self, fields: Mapping[str, Any]) -> M:
        """Create a record from camelCase ``fields`` sent verbatim. Provisional path."""
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigError("fields must be a non-empty mapping of camelCase names")
        return await self._create("create", self._model, dict(fields))


class Companies(_Provisional[Company]):
    """``client.companies`` (provisional). .. versionadded:: 0.1.0"""

    _prefix = "companies"
    _model = Company


class Meetings(_Provisional[Meeting]):
    """``client.meetings`` (provisional). .. versionadded:: 0.1.0"""

    _prefix = "meetings"
    _model = Meeting


class VoiceAgents(_Provisional[VoiceAgent]):
    """``client.voice_agents`` (provisional; the call-initiation webhook is undocumented,
    use ``client.request`` for it). .. versionadded:: 0.1.0"""

    _prefix = "voice_agents"
    _model = VoiceAgent
