"""Contacts (reference.md §2.2)."""

from __future__ import annotations

from .._bulk_resource import BulkCreate, match_fields
from .._pagination import AsyncPaginator
from .._types import Priority
from ..models import Contact, ContactCreate
from ._base import Resource, filters


class Contacts(Resource, BulkCreate[ContactCreate, Contact]):
    """``client.contacts``: list, get (provisional) and create (provisional path).

    .. versionadded:: 0.1.0
    """

    _prefix = "contacts"
    _bulk_match = match_fields(email="email")  # reconcile(match=...): field -> list() filter

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
        return self._list("list", Contact, params, page_size=page_size, start_page=start_page,
                          prefetch=prefetch, priority=priority)  # fmt: skip

    async def get(self, id: str) -> Contact:
        """One contact by id. Provisional: ``GET /contacts/{id}`` is inferred."""
        return await self._get("get", Contact, id)

    async def create(self, data: ContactCreate) -> Contact:
        """Create a contact. Provisional: ``POST /contacts`` is inferred."""
        return await self._create("create", Contact, data)
