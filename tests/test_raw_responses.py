"""Raw responses (``with_raw_response``) and page headers, on both clients, against the simulator."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from salescaling_async import (
    APIResponse,
    AsyncSalescaling,
    Envelope,
    NotFoundError,
    Page,
    RateLimits,
    ResponseValidationError,
    Salescaling,
)
from salescaling_async.models import Contact, ContactCreate, User
from salescaling_async.testing import (
    FakeClock,
    FakeTransport,
    RawRequest,
    RawResponse,
    Simulator,
    json_response,
    simulator_in_thread,
)

SCALE = 10.0


def _with_request_ids(sim: Simulator) -> Simulator:
    """Make the simulator answer every request with a fresh ``x-request-id``, as the real API may."""
    counter = itertools.count(1)

    async def add_id(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-request-id"] = f"req-{next(counter)}"

    sim.app.on_response_prepare.append(add_id)
    return sim


@pytest.fixture(name="sim")
async def _sim() -> AsyncIterator[Simulator]:
    async with _with_request_ids(Simulator(records=12, time_scale=SCALE)) as sim:
        yield sim


@pytest.fixture(name="thread_sim")
def _thread_sim() -> Iterator[Simulator]:
    with simulator_in_thread(_with_request_ids(Simulator(records=12, time_scale=SCALE))) as sim:
        yield sim


def _async_client(sim: Simulator) -> AsyncSalescaling:
    return AsyncSalescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE))


async def test_raw_get_has_status_headers_request_id_elapsed_and_the_typed_result(sim: Simulator) -> None:
    """``with_raw_response.get`` answers the HTTP facts plus ``parse()``, the same model ``get`` gives."""
    contact_id = sim.store.data["contacts"][3]["id"]
    async with _async_client(sim) as client:
        raw = await client.contacts.with_raw_response.get(contact_id)
        plain = await client.contacts.get(contact_id)
    assert isinstance(raw, APIResponse)
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.request_id is not None and raw.request_id.startswith("req-")
    assert raw.request_id == raw.headers["x-request-id"]
    assert isinstance(raw.elapsed, timedelta) and raw.elapsed >= timedelta(0)
    assert raw.url.endswith(f"/contacts/{contact_id}")
    assert isinstance(raw.parse(), Contact) and raw.parse() == plain


async def test_raw_create_and_raw_list_answer_the_first_page(sim: Simulator) -> None:
    """A raw create gives the created model; a raw list gives the raw response of its first page."""
    async with _async_client(sim) as client:
        created = await client.contacts.with_raw_response.create(ContactCreate(first_name="Raw"))
        assert created.status_code in (200, 201) and created.parse().first_name == "Raw"
        listed = await client.users.with_raw_response.list(page_size=5)
    page = listed.parse()
    assert isinstance(page, Page) and len(page.items) == 5 and all(isinstance(u, User) for u in page.items)
    assert listed.request_id == page.request_id and page.request_id is not None


async def test_pages_carry_headers_and_request_id(sim: Simulator) -> None:
    """Every page from ``.pages()`` has its own response headers and request id."""
    async with _async_client(sim) as client:
        pages = [page async for page in client.users.list(page_size=5).pages()]
    assert [len(p.items) for p in pages] == [5, 5, 2]
    ids = [p.request_id for p in pages]
    assert None not in ids and len(set(ids)) == 3
    assert all(p.headers["x-request-id"] == p.request_id for p in pages)


async def test_concurrent_raw_calls_each_get_their_own_response(sim: Simulator) -> None:
    """Raw calls in parallel never see each other's response (one capture per call)."""
    ids = [c["id"] for c in sim.store.data["contacts"][:8]]
    async with _async_client(sim) as client:
        raws = await asyncio.gather(*(client.contacts.with_raw_response.get(i) for i in ids))
    assert [r.parse().id for r in raws] == ids
    assert all(r.url.endswith(i) for r, i in zip(raws, ids, strict=True))
    assert len({r.request_id for r in raws}) == len(ids)


async def test_raw_error_status_still_raises(sim: Simulator) -> None:
    """An error status raises its typed error in raw mode too (there is no result to parse)."""
    async with _async_client(sim) as client:
        with pytest.raises(NotFoundError):
            await client.contacts.with_raw_response.get("missing")


async def test_a_body_that_does_not_fit_raises_only_from_parse(clock: FakeClock, drive: Any) -> None:
    """A 2xx whose data does not fit the model keeps its status and headers; ``parse()`` raises."""

    def handler(request: RawRequest) -> RawResponse:
        return json_response(["not", "a", "contact"], headers={"x-request-id": "r-9"})

    client = AsyncSalescaling("k", base_url="https://api.example.com/", transport=FakeTransport(handler), clock=clock)
    raw = await drive(client.contacts.with_raw_response.get("abc"))
    assert (raw.status_code, raw.request_id) == (200, "r-9")
    with pytest.raises(ResponseValidationError):
        raw.parse()
    with pytest.raises(ResponseValidationError):
        await drive(client.contacts.get("abc"))


async def test_elapsed_is_measured_on_the_client_clock(clock: FakeClock, drive: Any) -> None:
    """``elapsed`` covers the whole call, throttle waits and retries included, on the injected clock."""
    answers = iter([json_response(None, status=503), json_response({"id": "a"})])
    client = AsyncSalescaling(
        "k", base_url="https://api.example.com/", transport=FakeTransport(lambda r: next(answers)), clock=clock, seed=1
    )
    raw = await drive(client.contacts.with_raw_response.get("a"))
    assert raw.parse().id == "a"
    assert raw.elapsed > timedelta(0)  # the backoff before the second attempt


def test_blocking_raw_responses_and_pages(thread_sim: Simulator) -> None:
    """The blocking client answers the same raw responses and page headers."""
    sim = thread_sim
    contact_id = sim.store.data["contacts"][0]["id"]
    with Salescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE)) as client:
        raw = client.contacts.with_raw_response.get(contact_id)
        assert raw.status_code == 200 and raw.parse().id == contact_id and raw.request_id is not None
        first = client.users.with_raw_response.list(page_size=4)
        assert len(first.parse().items) == 4
        pages = list(client.users.list(page_size=5).pages())
        assert all(p.request_id and p.headers["x-request-id"] == p.request_id for p in pages)
        tenant = client.with_options(timeout=5.0)
        assert tenant.contacts.with_raw_response.get(contact_id).parse().id == contact_id


async def test_a_requester_without_http_response_still_answers_raw() -> None:
    """A requester that answers from elsewhere (a cache, a double) gives the envelope's status and headers."""
    from salescaling_async._resources import AsyncMode, Contacts

    class Cached:
        async def call(self, endpoint: Any, **kwargs: Any) -> Envelope:
            return Envelope(status_code=200, count=None, error=None, data={"id": "c1"}, headers={"x-request-id": "hit"})

    raw = await Contacts[AsyncMode](Cached()).with_raw_response.get("c1")
    assert (raw.status_code, raw.request_id, raw.parse().id) == (200, "hit", "c1")


async def test_a_cache_hit_answers_raw_with_its_url_elapsed_and_from_cache(sim: Simulator) -> None:
    """On a hit, the raw response keeps the URL and the request id of the stored response,
    says ``from_cache`` and carries no (stale) rate-limit header; ``elapsed`` is the lookup's."""
    from salescaling_async import MemoryCache

    async with AsyncSalescaling(
        sim.api_key, base_url=sim.url, limits=RateLimits().scaled(SCALE), cache=MemoryCache(ttl=600)
    ) as client:
        first = await client.contacts.with_raw_response.get(sim.store.data["contacts"][0]["id"])
        again = await client.contacts.with_raw_response.get(sim.store.data["contacts"][0]["id"])
    assert not first.from_cache and any(h.startswith("x-ratelimit") for h in first.headers)
    assert again.from_cache and again.status_code == 200
    assert again.url == first.url != ""
    assert again.request_id == first.request_id is not None
    assert again.parse() == first.parse()
    assert not any(h.startswith(("x-ratelimit", "ratelimit", "retry-after")) for h in again.headers)
    assert sim.stats().accepted == 1
