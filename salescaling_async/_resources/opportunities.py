"""Opportunities (reference.md §2.3)."""

from __future__ import annotations

from .._endpoints import OPPORTUNITIES_CREATE, OPPORTUNITIES_GET, OPPORTUNITIES_LIST
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Opportunity, OpportunityCreate
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
    filters,
)
from ._bulk_mixin import BulkCreate, match_fields
from ._operations import listing, operation


class Opportunities(Resource[M, "Opportunities[Raw[M]]"], BulkCreate[OpportunityCreate, Opportunity]):
    """``client.opportunities``: list, get (provisional) and create.

    .. versionadded:: 0.1.0
    """

    _bulk_match = match_fields(name="name")  # reconcile(match=...): field -> list() filter

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        contact_id: str | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[Opportunity]:
        """Every opportunity matching the filters (``name`` matches partially)."""
        params = filters(name=name, contactId=contact_id)
        return self._list(
            OPPORTUNITIES_LIST, params, page_size=page_size, start_page=start_page, prefetch=prefetch, priority=priority
        )

    @operation
    async def get(self, id: str) -> Opportunity:
        """One opportunity by id. Provisional: the path is inferred."""
        return await self._get(OPPORTUNITIES_GET, id)

    @operation
    async def create(self, data: OpportunityCreate) -> Opportunity:
        """Create an opportunity (``POST /opportunities``)."""
        return await self._create(OPPORTUNITIES_CREATE, data)
