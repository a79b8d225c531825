"""AsyncPaginator: stopping, resuming, prefetching and de-duplication."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from salescaling_async import AsyncSalescaling, ConfigError, Page, RateLimits
from salescaling_async._pagination import AsyncPaginator
from salescaling_async._request import RawRequest, RawResponse
from salescaling_async.testing import FakeClock, FakeTransport, Simulator, json_response


def _paged(total: int, *, count: str = "total") -> tuple[FakeTransport, list[int]]:
    asked: list[int] = []

    def handler(request: RawRequest) -> RawResponse:
        params = dict(request.params)
        page, limit = int(params["page"]), int(params["limit"])
        asked.append(page)
        rows = [{"id": str(i)} for i in range((page - 1) * limit, min(total, page * limit))]
        return json_response(rows, count=total if count == "total" else len(rows))

    return FakeTransport(handler), asked


@pytest.mark.parametrize("count", ["total", "page"])
@pytest.mark.parametrize(("total", "pages"), [(0, 1), (9, 1), (10, 2), (25, 3)])
async def test_stops_on_the_short_page_whatever_count_means(
    clock: FakeClock, drive: Any, count: str, total: int, pages: int
) -> None:
    """Iteration ends at the first short page, with ``count`` as total or as page size."""
    transport, asked = _paged(total, count=count)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    items = await drive(client.contacts.list(page_size=10).to_list())
    assert [c.id for c in items] == [str(i) for i in range(total)]
    assert asked == list(range(1, pages + 1))


async def test_resume_from_start_page(clock: FakeClock, drive: Any) -> None:
    """``start_page`` resumes exactly where a checkpoint said; ``next_page`` tracks progress."""
    transport, asked = _paged(35)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10, start_page=3)
    numbers = []

    async def run() -> None:
        async for page in paginator.pages():
            numbers.append(page.number)
            assert paginator.next_page == page.number  # not yet handed out completely

    await drive(run())
    assert numbers == [3, 4] and paginator.next_page == 5 and asked == [3, 4]


async def test_to_list_max_items_stops_fetching(clock: FakeClock, drive: Any) -> None:
    """``to_list(max_items=)`` fetches only the pages it needs."""
    transport, asked = _paged(1000)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    items = await drive(client.contacts.list(page_size=10).to_list(max_items=15))
    assert len(items) == 15 and asked == [1, 2]


async def test_prefetch_keeps_order_and_stops_cleanly(clock: FakeClock, drive: Any) -> None:
    """With prefetch the records still come in order, and pages past the end are cancelled."""
    transport, asked = _paged(45)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    items = await drive(client.contacts.list(page_size=10, prefetch=3).to_list())
    assert [c.id for c in items] == [str(i) for i in range(45)]
    assert set(asked) >= {1, 2, 3, 4, 5}


async def test_first_page_only(clock: FakeClock, drive: Any) -> None:
    """``first_page()`` returns one Page with the server's count."""
    transport, asked = _paged(25)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    page = await drive(client.contacts.list(page_size=10).first_page())
    assert isinstance(page, Page) and page.count == 25 and not page.is_last and asked == [1]


async def test_a_filter_the_api_cannot_be_sent_is_refused_by_list_itself(clock: FakeClock, drive: Any) -> None:
    """A listing encodes its filters once, when it is made: a non-finite number (it would go
    out as ``nan``) is refused by ``list()``, before any page is asked for; others go out
    with every page, before its number and size."""
    transport, asked = _paged(25)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    with pytest.raises(ConfigError, match="'email' must be a finite number"):
        client.contacts.list(email=float("nan"))  # type: ignore[arg-type]
    assert asked == []
    await drive(client.contacts.list(email="ada@example.com", page_size=10).first_page())
    (sent,) = transport.requests
    assert sent.params == [("email", "ada@example.com"), ("page", "1"), ("limit", "10")]


def test_invalid_arguments() -> None:
    """Bad page sizes, start pages and prefetch values are refused."""

    async def fetch(page: int, limit: int) -> Page[Any]:
        raise AssertionError

    for kwargs in ({"limit": 0}, {"start_page": 0}, {"prefetch": -1}, {"max_without_id": -1}):
        with pytest.raises(ConfigError):
            AsyncPaginator(fetch, **kwargs)


async def test_each_id_once_while_records_are_inserted() -> None:
    """Newest-first listing shifts records to the next page as others are created; none repeats."""
    async with Simulator(records={"contacts": 300}, order="newest_first", limits=None) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=RateLimits()) as client:
            original = {c["id"] for c in sim.store.data["contacts"]}
            seen: list[str] = []
            async for contact in client.contacts.list(page_size=20):
                assert contact.id is not None
                seen.append(contact.id)
                if len(seen) % 20 == 0:  # five new records land at the front after each page
                    for _ in range(5):
                        sim.store.add("contacts", {"firstName": "New"})
            assert len(seen) == len(set(seen))
            assert original <= set(seen)


async def test_streams_through_the_scheduler_concurrently() -> None:
    """Prefetched pages go through the rate scheduler: no 429 even when prefetching hard."""
    async with Simulator(records={"users": 2000}, time_scale=10) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=RateLimits().scaled(10)) as client:
            users = await client.users.list(page_size=10, prefetch=30).to_list()
    assert len(users) == 2000 and sim.stats().rejected == 0


def _fixed_pages(
    pages: dict[int, list[dict[str, Any]]], *, count: int | None = None
) -> tuple[FakeTransport, list[int]]:
    """A server answering page N with ``pages[N]`` (the last entry for any later page)."""
    asked: list[int] = []

    def handler(request: RawRequest) -> RawResponse:
        page = int(dict(request.params)["page"])
        asked.append(page)
        rows = pages.get(page, pages[max(pages)])
        return json_response(rows, count=count if count is not None else len(rows))

    return FakeTransport(handler), asked


@pytest.mark.parametrize("dedupe_window", [None, 0])
async def test_a_server_repeating_a_full_page_forever_is_not_paged_forever(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture, dedupe_window: int | None
) -> None:
    """The same full page again adds no new id: iteration ends there with a warning."""
    transport, asked = _fixed_pages({1: [{"id": str(i)} for i in range(10)]})
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    paginator.dedupe_window = 1000 if dedupe_window is None else dedupe_window
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        items = await drive(paginator.to_list())
    assert [c.id for c in items] == [str(i) for i in range(10)]
    assert asked == [1, 2] and paginator.end_reason == "no_new_ids" and paginator.next_page == 2
    assert "looping" in caplog.text


async def test_records_without_ids_end_past_the_bound(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Full pages of id-less records forever end once more than max_without_id were handed out."""
    transport, asked = _fixed_pages({1: [{"firstName": "x"}] * 10})
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    paginator.max_without_id = 35
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        items = await drive(paginator.to_list())
    assert len(items) == 40 and asked == [1, 2, 3, 4]
    assert paginator.end_reason == "too_many_without_ids" and "without an id" in caplog.text


async def test_a_total_count_that_is_reached_saves_the_empty_page(clock: FakeClock, drive: Any) -> None:
    """count larger than a page is a total: reaching it ends without asking for an empty page."""
    transport, asked = _paged(20)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    items = await drive(paginator.to_list())
    assert len(items) == 20 and asked == [1, 2]
    assert paginator.end_reason == "count_reached" and paginator.total == 20


async def test_a_short_page_below_the_total_is_reported(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A short page while count says more ends (the documented rule) with a warning."""
    rows = [{"id": str(i)} for i in range(25)]
    transport, asked = _fixed_pages({1: rows[:10], 2: rows[10:14]}, count=25)
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        items = await drive(paginator.to_list())
    assert len(items) == 14 and asked == [1, 2]
    assert paginator.end_reason == "short_page" and paginator.total == 25
    assert "14 through this page, count 25" in caplog.text


async def test_a_per_page_count_is_never_a_total(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """count equal to each page's length is no total: the short page ends quietly."""
    transport, _asked = _paged(25, count="page")
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        await drive(paginator.to_list())
    assert paginator.total is None and paginator.end_reason == "short_page" and not caplog.text


async def test_a_short_page_of_shifted_duplicates_ends_quietly(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A last page holding only records shifted from the previous one is a normal end."""
    transport, asked = _fixed_pages({1: [{"id": str(i)} for i in range(10)], 2: [{"id": "9"}]})
    client = AsyncSalescaling("k", transport=transport, clock=clock)
    paginator = client.contacts.list(page_size=10)
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        items = await drive(paginator.to_list())
    assert len(items) == 10 and asked == [1, 2] and paginator.end_reason == "short_page" and not caplog.text


async def test_a_total_count_crossed_by_a_page_is_honoured_and_reported(
    clock: FakeClock, drive: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """count=15 while the server keeps sending full pages of new records: 15 records, then
    the iteration ends with a warning (it used to go on past the count silently)."""
    served = iter(range(10_000))

    def handler(request: RawRequest) -> RawResponse:
        return json_response([{"id": str(next(served))} for _ in range(10)], count=15)

    client = AsyncSalescaling("k", transport=FakeTransport(handler), clock=clock)
    paginator = client.contacts.list(page_size=10)
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        items = await drive(paginator.to_list())
    assert [c.id for c in items] == [str(i) for i in range(15)]
    assert paginator.end_reason == "count_reached" and paginator.total == 15
    assert "crosses the total count 15" in caplog.text
