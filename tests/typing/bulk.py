"""Type-checked, never run: the bulk-write API as users see it (``mypy --strict tests/typing/bulk.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from typing_extensions import assert_type

from salescaling_async import AsyncSalescaling, BulkProgress, BulkResult, BulkRun, Salescaling, SyncBulkRun
from salescaling_async.models import Company, Contact, ContactCreate, Opportunity, OpportunityCreate


def progress(p: BulkProgress) -> None:
    assert_type(p.done, int)


async def async_bulk(client: AsyncSalescaling) -> None:
    run = client.contacts.create_many([ContactCreate(first_name="A")], concurrency=4, on_progress=progress)
    assert_type(run, BulkRun[ContactCreate, Contact])
    async for result in run:
        assert_type(result, BulkResult[ContactCreate, Contact])
        assert_type(result.record, Contact | None)
    settled = client.contacts.reconcile([r async for r in run], match="email")
    assert_type(settled, BulkRun[ContactCreate, Contact])
    assert_type(run.unreported, list[BulkResult[ContactCreate, Contact]])
    companies = client.companies.create_many([{"name": "Acme"}])
    assert_type(companies, BulkRun[Mapping[str, Any], Company])


def blocking_bulk(client: Salescaling) -> None:
    run = client.opportunities.create_many([OpportunityCreate(name="Deal")], ordered=True)
    assert_type(run, SyncBulkRun[OpportunityCreate, Opportunity])
    for result in run:
        assert_type(result.status, Literal["created", "error", "ambiguous"])
