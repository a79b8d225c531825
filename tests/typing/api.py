"""Type-checked, never run: the public API as a strict type checker sees it."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from datetime import datetime, timedelta
from typing import Any

from typing_extensions import assert_type

from salescaling_async import (
    APIResponse,
    APIStatusError,
    AsyncPaginator,
    AsyncSalescaling,
    Envelope,
    KeyStatistics,
    Page,
    ResponseLimits,
    ResponseTooLargeError,
    Salescaling,
)
from salescaling_async.models import (
    Call,
    CallUploadResult,
    Company,
    Contact,
    ContactCreate,
    Opportunity,
    OpportunityCreate,
    User,
)
from salescaling_async.sync import SyncPaginator
from salescaling_async.testing import Clock, RawRequest, RawResponse, Transport


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
    limited = AsyncSalescaling(response_limits=ResponseLimits(max_body_bytes=1024))
    paginator = limited.contacts.list()
    assert_type(paginator.total, int | None)
    assert paginator.end_reason in (None, "short_page", "count_reached", "no_new_ids", "too_many_without_ids")
    try:
        await limited.request("GET", "contacts")
    except ResponseTooLargeError as error:
        assert_type(error.limit, int)
    except APIStatusError as error:
        assert_type(error.reason, str | None)
        assert_type(error.messages, tuple[str, ...])


async def async_raw_responses(client: AsyncSalescaling) -> None:
    raw = await client.contacts.with_raw_response.get("id")
    assert_type(raw, APIResponse[Contact])
    assert_type(raw.parse(), Contact)
    assert_type(raw.status_code, int)
    assert_type(raw.headers, Mapping[str, str])
    assert_type(raw.request_id, str | None)
    assert_type(raw.elapsed, timedelta)
    assert_type(await client.companies.with_raw_response.get("id"), APIResponse[Company])
    assert_type(await client.users.with_raw_response.update_metadata("id", {}), APIResponse[dict[str, Any]])
    assert_type(await client.calls.with_raw_response.list(name="x"), APIResponse[Page[Call]])
    page = await client.contacts.list().first_page()
    assert_type(page.headers, Mapping[str, str])
    assert_type(page.request_id, str | None)


async def async_views(client: AsyncSalescaling) -> None:
    assert_type(client.with_key("other"), AsyncSalescaling)
    assert_type(client.with_options(timeout=3.0).contacts.list(), AsyncPaginator[Contact])


def blocking_api(client: Salescaling) -> None:
    assert_type(client.contacts.get("id"), Contact)
    assert_type(client.users.list(phone="+1"), SyncPaginator[User])
    for user in client.users.list():
        assert_type(user, User)
    assert_type(client.calls.upload(name="n", start_date_time=datetime.now(), media_url="u"), CallUploadResult)
    assert_type(client.contacts.list().to_list(max_items=3), list[Contact])
    assert_type(client.opportunities.create(OpportunityCreate(name="n")), Opportunity)
    assert_type(client.companies.list().first_page(), Page[Company])
    assert_type(client.users.list().pages(), Generator[Page[User], None, None])
    assert_type(client.request("GET", "contacts", params={"limit": 1}), Envelope)
    assert_type(client.statistics(), KeyStatistics)


def blocking_views_and_raw(client: Salescaling) -> None:
    tenant = client.with_key("other", scopes={"contacts:read"})
    assert_type(tenant, Salescaling)
    assert_type(client.with_options(timeout=2.0, retry=None).contacts.get("id"), Contact)
    raw = tenant.contacts.with_raw_response.get("id")
    assert_type(raw, APIResponse[Contact])
    assert_type(raw.parse(), Contact)
    assert_type(client.calls.with_raw_response.list(), APIResponse[Page[Call]])
    assert_type(client.voice_agents.with_raw_response.create({"name": "n"}).request_id, str | None)


def blocking_constructor() -> Salescaling:
    return Salescaling("k", base_url="http://127.0.0.1:8080/api/v1/", timeout=5.0, call_timeout=10.0, seed=1)


class RecordingTransport:
    """A user's own transport, written against the public seams only."""

    def __init__(self) -> None:
        self.sent: list[RawRequest] = []

    async def send(self, request: RawRequest) -> RawResponse:
        self.sent.append(request)
        return RawResponse(status=200, headers=(), body=b"{}", url=request.url)

    async def aclose(self) -> None:
        return None


def custom_seams(clock: Clock) -> None:
    transport: Transport = RecordingTransport()
    assert_type(clock.now(), float)
    AsyncSalescaling("k", transport=transport, clock=clock)


async def serialisation_caching_monitoring_api(client: AsyncSalescaling) -> None:
    # Imports kept local so that parallel additions to this file merge cleanly.
    from salescaling_async import (
        CacheStatistics,
        MemoryCache,
        RedisCache,
        RequestAttempt,
        from_dict,
        to_dict,
    )
    from salescaling_async.integrations.otel import instrument

    contact = ContactCreate(email="a@b.c", title_position="CTO")
    assert_type(to_dict(contact), dict[str, Any])
    assert_type(from_dict(Contact, {"firstName": "A"}), Contact)
    cached = AsyncSalescaling(cache=MemoryCache(ttl=60, max_entries=10_000))
    shared = AsyncSalescaling(cache=RedisCache("redis://127.0.0.1:6379/0", ttl=30))
    assert_type(cached.with_options(cache=False), AsyncSalescaling)
    assert_type(await MemoryCache().statistics(), CacheStatistics)
    assert_type(instrument(shared, tracer_provider=None, meter_provider=None), None)

    def on_event(event: object) -> None:
        if isinstance(event, RequestAttempt):
            assert_type(event.status, int | None)

    del client, on_event


async def web_api(client: AsyncSalescaling) -> None:
    from fastapi import FastAPI

    from salescaling_async import BreakerConfig
    from salescaling_async.integrations.fastapi import install
    from salescaling_async.webhooks import ReplayGuard

    install(FastAPI(), deadline=2.0, breaker=BreakerConfig(failures=3, cool_off=5.0))
    assert_type(await client.drain(5.0), bool)
    assert_type(ReplayGuard(window=60.0).seen(b"x"), bool)
