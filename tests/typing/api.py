"""Type-checked, never run: the public API as a strict type checker sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from typing_extensions import assert_type

from salescaling_async import (
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
from salescaling_async.models import Call, CallUploadResult, Contact, ContactCreate, Opportunity, User
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


def blocking_api(client: Salescaling) -> None:
    assert_type(client.contacts.get("id"), Contact)
    assert_type(client.users.list(phone="+1"), SyncPaginator[User])
    for user in client.users.list():
        assert_type(user, User)
    assert_type(client.calls.upload(name="n", start_date_time=datetime.now(), media_url="u"), CallUploadResult)
    assert_type(client.contacts.list().to_list(max_items=3), list[Contact])


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
