"""Type-checked, never run: the public API as a strict type checker sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from typing_extensions import assert_type

from salescaling_async import AsyncPaginator, AsyncSalescaling, Envelope, KeyStatistics, Page, Salescaling
from salescaling_async.models import Call, CallUploadResult, Contact, ContactCreate, Opportunity, User
from salescaling_async.sync import SyncPaginator


async def async_api(client: AsyncSalescaling) -> None:
    assert_type(client.contacts.list(email="x"), AsyncPaginator[Contact])
    assert_type(await client.contacts.get("id"), Contact)
    assert_type(await client.contacts.create(ContactCreate(first_name="A")), Contact)
    assert_type(await client.calls.list().first_page(), Page[Call])
    assert_type(await client.users.update_metadata("id", {"a": 1}), dict[str, Any])
    assert_type(await client.request("GET", "contacts"), Envelope)
    assert_type(client.statistics(), KeyStatistics)
    async for opportunity in client.opportunities.list():
        assert_type(opportunity, Opportunity)


def blocking_api(client: Salescaling) -> None:
    assert_type(client.contacts.get("id"), Contact)
    assert_type(client.users.list(phone="+1"), SyncPaginator[User])
    for user in client.users.list():
        assert_type(user, User)
    assert_type(client.calls.upload(name="n", start_date_time=datetime.now(), media_url="u"), CallUploadResult)
    assert_type(client.contacts.list().to_list(max_items=3), list[Contact])


async def web_api(client: AsyncSalescaling) -> None:
    from fastapi import FastAPI

    from salescaling_async import BreakerConfig
    from salescaling_async.integrations.fastapi import install
    from salescaling_async.webhooks import ReplayGuard

    install(FastAPI(), deadline=2.0, breaker=BreakerConfig(failures=3, cool_off=5.0))
    assert_type(await client.drain(5.0), bool)
    assert_type(ReplayGuard(window=60.0).seen(b"x"), bool)
