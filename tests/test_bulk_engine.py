"""The bulk engine on its own: every item reported exactly once, in order when asked, lazily."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from salescaling_async import BulkResult, BulkRun, ServerError
from salescaling_async._bulk import create_one


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(st.integers(0, 6), min_size=0, max_size=60),
    failures=st.sets(st.integers(0, 59)),
    concurrency=st.integers(1, 9),
    ordered=st.booleans(),
    stop_after=st.none() | st.integers(0, 60),
)
def test_every_item_is_reported_exactly_once(
    delays: list[int], failures: set[int], concurrency: int, ordered: bool, stop_after: int | None
) -> None:
    """Whatever the timing, failures, concurrency and order mode, and whether the consumer
    stops early: each item taken is yielded or in ``unreported`` exactly once; ordered runs
    yield in input order; the input is never read more than the buffer ahead."""
    taken = 0

    def items() -> Iterator[int]:
        nonlocal taken
        for i in range(len(delays)):
            taken += 1
            yield i

    async def create(i: int) -> str:
        for _ in range(delays[i]):
            await asyncio.sleep(0)
        if i in failures:
            raise ServerError("boom", status_code=500, method="POST", url="u")
        return f"record-{i}"

    async def main() -> tuple[list[BulkResult[int, str]], BulkRun[int, str]]:
        run: BulkRun[int, str] = BulkRun(
            items(), lambda i, x: create_one(create, i, x), concurrency=concurrency, ordered=ordered
        )
        got: list[BulkResult[int, str]] = []
        async with run:
            async for result in run:
                got.append(result)
                assert taken - len(got) <= concurrency * (4 if ordered else 2)
                if stop_after is not None and len(got) >= stop_after:
                    break
        return got, run

    got, run = asyncio.run(main())
    reported = [r.index for r in got] + [r.index for r in run.unreported]
    assert sorted(reported) == list(range(taken))
    if ordered:
        assert [r.index for r in got] == list(range(len(got)))
    for result in got:
        assert result.item == result.index
        if result.index in failures:
            assert result.status == "ambiguous" and isinstance(result.error, ServerError)
        else:
            assert result.status == "created" and result.record == f"record-{result.index}"
    if stop_after is None or stop_after >= len(delays):
        assert taken == len(delays) and not run.unreported
