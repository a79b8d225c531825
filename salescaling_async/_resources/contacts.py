"""Contacts (reference.md §2.2)."""

from __future__ import annotations

from .._endpoints import CONTACTS_CREATE, CONTACTS_GET, CONTACTS_LIST
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Contact, ContactCreate
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
    filters,
)
from ._bulk_mixin import BulkCreate, match_fields
from ._operations import listing, operation


class Contacts(Resource[M, "Contacts[Raw[M]]"], BulkCreate[ContactCreate, Contact]):
    """``client.contacts``: list, get (provisional) and create (provisional path).

    .. versionadded:: 0.1.0
    """

    _bulk_match = match_fields(email="email")  # reconcile(match=...): field -> list() filter

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        opportunity_id: str | None = None,
        company_id: str | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[Contact]:
        """Every contact matching the filters (``name``/``email`` match partially)."""
        params = filters(name=name, email=email, opportunityId=opportunity_id, companyId=company_id)
        return self._list(
            CONTACTS_LIST, params, page_size=page_size, start_page=start_page, prefetch=prefetch, priority=priority
        )

    @operation
    async def get(self, id: str) -> Contact:
        """One contact by id. Provisional: ``GET /contacts/{id}`` is inferred."""
        return await self._get(CONTACTS_GET, id)

    @operation
    async def create(self, data: ContactCreate) -> Contact:
        """Create a contact. Provisional: ``POST /contacts`` is inferred."""
        return await self._create(CONTACTS_CREATE, data)
