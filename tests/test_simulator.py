"""Conformance of the simulator alone, through raw aiohttp requests (not the SDK)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from salescaling_async.testing import DEFAULT_KEY, FakeClock, Fault, SimKey, Simulator

from .conftest import until

HEADERS = {"x-api-key": DEFAULT_KEY}


@pytest.fixture(name="http")
async def _http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    http: aiohttp.ClientSession, sim: Simulator, path: str = "contacts", **kw: Any
) -> aiohttp.ClientResponse:
    headers = kw.pop("headers", HEADERS)
    async with http.get(sim.url + path, headers=headers, **kw) as resp:
        await resp.read()
        return resp


@pytest.mark.parametrize("scale", [pytest.param(1.0, id="scale-1"), pytest.param(10.0, id="scale-10")])
async def test_burst_sequence_of_rate_limits_md(http: aiohttp.ClientSession, clock: FakeClock, scale: float) -> None:
    """20 pass then 429 with Retry-After-short; the block outlasts the log; Remaining 19 after it."""
    async with Simulator(clock=clock.now, time_scale=scale, records=1) as sim:
        t0 = clock.now()
        for i in range(20):
            resp = await _get(http, sim)
            assert resp.status == 200
            assert resp.headers["X-RateLimit-Remaining-short"] == str(19 - i)
            assert resp.headers["X-RateLimit-Limit-medium"] == "200"
        clock.advance(0.9 / scale)
        resp = await _get(http, sim)
        assert resp.status == 429
        assert resp.headers["Retry-After-short"] == "1"  # whole seconds rounded up at any scale
        assert "Retry-After" not in resp.headers
        assert await resp.json() == {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"}
        clock.advance((1.05 - 0.9) / scale)  # the log has freed room, but the block holds
        assert (await _get(http, sim)).status == 429
        clock.advance(t0 + 1.95 / scale - clock.now())  # past the block (0.9 + 1.0)
        resp = await _get(http, sim)
        assert resp.status == 200
        assert resp.headers["X-RateLimit-Remaining-short"] == "19"
        # 21 accepted hits in medium: the two requests rejected by short never reached it
        assert resp.headers["X-RateLimit-Remaining-medium"] == str(200 - 21)
        assert sim.stats().rejected == 2 and sim.stats().accepted == 21


async def test_long_block_lasts_a_full_window(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """Going over ``long`` blocks it for 60 s; requests rejected there still count in short."""
    async with Simulator(clock=clock.now, records=1) as sim:
        for _ in range(50):  # 1000 in 50 s at 20/s
            for _ in range(20):
                assert (await _get(http, sim)).status == 200
            clock.advance(1.0)
        resp = await _get(http, sim)
        assert resp.status == 429 and resp.headers["Retry-After-long"] == "60"
        assert resp.headers["X-RateLimit-Remaining-short"] == "19"  # counted by short
        clock.advance(59.0)
        assert (await _get(http, sim)).status == 429
        clock.advance(1.01)
        assert (await _get(http, sim)).status == 200


async def test_fixed_window_storage_counts_blocked_requests(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """The fixed-window variant starts a window at the first hit and counts blocked requests."""
    async with Simulator(clock=clock.now, storage="fixed", records=1) as sim:
        for _ in range(20):
            assert (await _get(http, sim)).status == 200
        assert (await _get(http, sim)).status == 429
        clock.advance(1.0)
        assert (await _get(http, sim)).status == 200


async def test_401_before_429_and_never_counted(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """Bad, missing and expired keys get 401 and never count toward the limits."""
    keys = {DEFAULT_KEY: SimKey(), "old": SimKey(expires_at=clock.now() - 1)}
    async with Simulator(clock=clock.now, keys=keys, records=1) as sim:
        for headers in ({}, {"x-api-key": "nope"}, {"x-api-key": "old"}):
            resp = await _get(http, sim, headers=headers)
            assert resp.status == 401
        for _ in range(30):
            await _get(http, sim, headers={"x-api-key": "nope"})
        resp = await _get(http, sim)
        assert resp.status == 200 and resp.headers["X-RateLimit-Remaining-short"] == "19"


async def test_scopes(http: aiohttp.ClientSession) -> None:
    """A key without the endpoint's scope gets 403."""
    async with Simulator(keys={"k": SimKey(scopes={"contacts:read"})}, records=1) as sim:
        assert (await _get(http, sim, headers={"x-api-key": "k"})).status == 200
        assert (await _get(http, sim, "calls", headers={"x-api-key": "k"})).status == 403
        async with http.post(sim.url + "contacts", json={}, headers={"x-api-key": "k"}) as resp:
            assert resp.status == 403


async def test_pagination_and_filters(http: aiohttp.ClientSession) -> None:
    """page/limit slice the records; text filters match partially, id filters exactly."""
    async with Simulator(records=25, limits=None) as sim:
        pages = []
        for page in (1, 2, 3):
            async with http.get(sim.url + "users", params={"page": page, "limit": 10}, headers=HEADERS) as r:
                body = await r.json()
                pages.append(body["data"])
                assert body["count"] == 25 and body["error"] is None and body["statusCode"] == 200
        assert [len(p) for p in pages] == [10, 10, 5]
        assert len({u["id"] for p in pages for u in p}) == 25
        email = pages[0][0]["email"]
        async with http.get(sim.url + "users", params={"email": email[:-8].upper()}, headers=HEADERS) as r:
            found = (await r.json())["data"]
        assert email in {u["email"] for u in found}
        async with http.get(sim.url + "calendars", params={"isPrimary": "true"}, headers=HEADERS) as r:
            assert [c["isPrimary"] for c in (await r.json())["data"]] == [True]
        async with http.get(sim.url + "users", params={"page": "x"}, headers=HEADERS) as r:
            assert r.status == 400


async def test_create_then_list_and_get(http: aiohttp.ClientSession) -> None:
    """Created records are listed and fetched by id; missing required fields are a 400."""
    async with Simulator(records=0, limits=None) as sim:
        async with http.post(sim.url + "opportunities", json={"name": "Big"}, headers=HEADERS) as r:
            assert r.status == 201
            created = (await r.json())["data"]
        assert (await _get(http, sim, f"opportunities/{created['id']}")).status == 200
        async with http.get(sim.url + "opportunities", headers=HEADERS) as r:
            assert [o["name"] for o in (await r.json())["data"]] == ["Big"]
        async with http.post(sim.url + "opportunities", json={"amount": 1}, headers=HEADERS) as r:
            assert r.status == 400
        assert (await _get(http, sim, "opportunities/nope")).status == 404


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        pytest.param(Fault("status", on={1}, status=502), "502", id="status"),
        pytest.param(Fault("retry_after", on={1}, retry_after=3), "503+3", id="retry-after"),
        pytest.param(Fault("non_json", on={1}), "html", id="non-json"),
        pytest.param(Fault("truncated", on={1}), "truncated", id="truncated"),
        pytest.param(Fault("reset_before", on={1}), "reset", id="reset-before"),
        pytest.param(Fault("status", on={1}, methods={"POST"}), "post-only", id="methods-filter"),
    ],
)
async def test_fault_injection(http: aiohttp.ClientSession, fault: Fault, check: str) -> None:
    """Each fault kind produces what it promises on the scheduled request, then stops."""
    async with Simulator(records=3, faults=[fault], limits=None) as sim:
        if check == "post-only":
            assert (await _get(http, sim)).status == 200  # GETs are not matched
            async with http.post(sim.url + "opportunities", json={"name": "n"}, headers=HEADERS) as r:
                assert r.status == 500
        elif check == "reset":
            # POST: aiohttp itself resends idempotent requests on a dropped connection
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with http.post(sim.url + "opportunities", json={"name": "n"}, headers=HEADERS) as r:
                    await r.read()
        else:
            async with http.get(sim.url + "contacts", headers=HEADERS) as resp:
                text = await resp.text()
            if check == "502":
                assert resp.status == 502
            elif check == "503+3":
                assert resp.status == 503 and resp.headers["Retry-After"] == "3"
            elif check == "html":
                assert resp.status == 200 and text.startswith("<html>")
            else:
                with pytest.raises(ValueError):
                    json.loads(text)
        assert (await _get(http, sim)).status == 200  # only request 1 was faulty
        assert sum(sim.stats().faults.values()) == 1


async def test_reset_after_processing_applies_the_write(http: aiohttp.ClientSession) -> None:
    """``reset_after`` creates the record, then drops the connection: the ambiguous case."""
    async with Simulator(records=0, faults=[Fault("reset_after", on={1}, methods={"POST"})], limits=None) as sim:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(sim.url + "opportunities", json={"name": "x"}, headers=HEADERS) as r:
                await r.read()
        async with http.get(sim.url + "opportunities", headers=HEADERS) as r:
            assert len((await r.json())["data"]) == 1


async def test_latency_fault_and_stats_endpoint(http: aiohttp.ClientSession) -> None:
    """Latency delays the answer; the stats endpoint is unauthenticated and resettable."""
    import time

    async with Simulator(records=1, faults=[Fault("latency", probability=1.0, latency=0.05)]) as sim:
        start = time.monotonic()
        await _get(http, sim)
        assert time.monotonic() - start >= 0.05
        async with http.get(f"http://{sim.host}:{sim.port}/_simulator/stats") as r:
            stats = await r.json()
        assert stats[DEFAULT_KEY]["accepted"] == 1
        async with http.post(f"http://{sim.host}:{sim.port}/_simulator/reset") as r:
            assert r.status == 200
        assert sim.stats().accepted == 0


async def test_open_connections_reach_0_only_once_what_a_gone_client_sent_is_counted() -> None:
    """A client that goes away mid-request: the request still counts, and 0 connections says so."""
    async with Simulator(records=1, faults=[Fault("latency", probability=1.0, latency=0.5)]) as sim:
        assert sim.open_connections == 0
        session = aiohttp.ClientSession()
        request = asyncio.create_task(_get(session, sim))
        await until(lambda: sim.open_connections == 1, "the connection")
        request.cancel()
        await session.close()  # gone while the server still sleeps over its request
        await until(lambda: sim.open_connections == 0, "the server to end the request")
        assert sim.stats().accepted == 1


async def test_per_route_limits(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """With per_route=True each route has its own budget."""
    async with Simulator(clock=clock.now, per_route=True, records=1) as sim:
        for _ in range(20):
            await _get(http, sim, "contacts")
        assert (await _get(http, sim, "contacts")).status == 429
        assert (await _get(http, sim, "users")).status == 200


async def test_block_duration_option(http: aiohttp.ClientSession, clock: FakeClock) -> None:
    """``block_duration`` replaces the window length as the block after going over."""
    async with Simulator(clock=clock.now, records=1, block_duration=3.0) as sim:
        for _ in range(20):
            await _get(http, sim)
        resp = await _get(http, sim)
        assert resp.status == 429 and resp.headers["Retry-After-short"] == "3"
        clock.advance(2.5)
        assert (await _get(http, sim)).status == 429
        clock.advance(0.6)
        assert (await _get(http, sim)).status == 200


@pytest.mark.parametrize(
    "scale", [pytest.param(1.0, id="scale-1"), pytest.param(3.7, id="scale-3.7"), pytest.param(100.0, id="scale-100")]
)
async def test_time_headers_are_whole_seconds_at_any_scale(
    http: aiohttp.ClientSession, clock: FakeClock, scale: float
) -> None:
    """Retry-After-* and X-RateLimit-Reset-* are ASCII whole seconds, never fractions."""
    seen: list[str] = []
    async with Simulator(clock=clock.now, time_scale=scale, records=1) as sim:
        for _ in range(25):
            resp = await _get(http, sim)
            seen += [v for k, v in resp.headers.items() if k.lower().startswith(("retry-after", "x-ratelimit-reset"))]
            clock.advance(0.013 / scale)
        assert resp.status == 429
    async with Simulator(records=1, faults=[Fault("retry_after", on={1}, retry_after=2.5)], time_scale=scale) as sim:
        resp = await _get(http, sim)
        seen.append(resp.headers["Retry-After"])
    assert seen and all(v.isascii() and v.isdigit() for v in seen), seen
    assert seen[-1] == str(math.ceil(2.5 / scale))
