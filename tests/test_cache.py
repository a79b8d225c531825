"""Response caching, counted at a real server (the simulator): hits send nothing, writes invalidate."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from salescaling_async import (
    AsyncSalescaling,
    CacheStatistics,
    ConfigError,
    MemoryCache,
    NotFoundError,
    RedisCache,
    models,
)
from salescaling_async._cache import cache_key, resource_root
from salescaling_async.testing import FakeClock, SimKey, Simulator

OTHER_KEY = "sk_other_tenant_key_0123456789"


@pytest.fixture(name="sim")
async def _sim() -> AsyncIterator[Simulator]:
    async with Simulator(keys={"sk_test_key_0123456789": SimKey(), OTHER_KEY: SimKey()}, records=5) as sim:
        yield sim


def sent(sim: Simulator, key: str | None = None) -> int:
    """Requests the server answered for ``key``."""
    return sim.stats(key).accepted


async def test_a_hit_sends_nothing_and_spends_no_budget(sim: Simulator) -> None:
    """The second identical GET is answered from the cache: the server and the scheduler see one."""
    cache = MemoryCache(ttl=60)
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        first = await client.contacts.list(page_size=50).to_list()
        again = await client.contacts.list(page_size=50).to_list()
        one = await client.contacts.get(first[0].id or "")
        assert await client.contacts.get(first[0].id or "") == one
        assert again == first
        assert sent(sim) == 2
        assert client.statistics().granted == 2
        assert await cache.statistics() == CacheStatistics(hits=2, misses=2, entries=2)


async def test_query_and_key_are_part_of_the_cache_key(sim: Simulator) -> None:
    """Another query or another API key misses; the key itself is never part of a cache key."""
    cache = MemoryCache()
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        await client.users.list(page_size=50).to_list()
        await client.users.list(page_size=40).to_list()
        await client.with_key(OTHER_KEY).users.list(page_size=50).to_list()
        await client.with_key(OTHER_KEY).users.list(page_size=50).to_list()
    assert (sent(sim), sent(sim, OTHER_KEY)) == (2, 1)
    keys = list(cache._entries)
    assert len(keys) == 3
    assert not any(sim.api_key in k or OTHER_KEY in k for k in keys)


async def test_writes_invalidate_their_resource_only(sim: Simulator) -> None:
    """A create drops the cached list and records of its resource, for every key; others stay."""
    cache = MemoryCache()
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        other = client.with_key(OTHER_KEY)
        before = await client.contacts.list(page_size=50).to_list()
        await other.contacts.list(page_size=50).to_list()
        await client.users.list().to_list()
        await client.contacts.create(models.ContactCreate(first_name="New"))
        after = await client.contacts.list(page_size=50).to_list()
        assert len(after) == len(before) + 1
        assert len(await other.contacts.list(page_size=50).to_list()) == len(after)
        count = sent(sim)
        await client.users.list().to_list()
        assert sent(sim) == count


async def test_with_options_cache_false_bypasses(sim: Simulator) -> None:
    """A view with ``cache=False`` always sends and never stores; ``cache=True`` turns it back on."""
    cache = MemoryCache()
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        fresh = client.with_options(cache=False)
        await fresh.users.list().to_list()
        await fresh.users.list().to_list()
        assert (sent(sim), (await cache.statistics()).entries) == (2, 0)
        await fresh.with_options(cache=True).users.list().to_list()
        await client.users.list().to_list()
        assert sent(sim) == 3


async def test_entries_expire_after_ttl(sim: Simulator) -> None:
    """After ``ttl`` seconds (on the cache's timer) the entry is gone and the GET is sent again."""
    timer = FakeClock()
    cache = MemoryCache(ttl=30, timer=timer.now)
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        await client.users.list().to_list()
        timer.advance(29)
        await client.users.list().to_list()
        timer.advance(2)
        await client.users.list().to_list()
    assert sent(sim) == 2


async def test_errors_are_not_cached(sim: Simulator) -> None:
    """A 404 is raised each time and reaches the server each time."""
    cache = MemoryCache()
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        for _ in range(2):
            with pytest.raises(NotFoundError):
                await client.contacts.get("missing")
    assert sent(sim) == 2
    assert (await cache.statistics()).entries == 0


async def test_a_get_in_flight_during_a_write_does_not_recache_old_data() -> None:
    """A store with the generation seen before an invalidation is dropped."""
    cache = MemoryCache()
    _, generation = await cache.get("k", "root")
    await cache.invalidate("root")
    await cache.set("k", "root", b"{}", generation)
    assert (await cache.statistics()).entries == 0
    _, generation = await cache.get("k", "root")
    await cache.set("k", "root", b"{}", generation)
    assert (await cache.statistics()).entries == 1


def test_resource_roots_and_keys() -> None:
    """Roots are the first segment under the base URL; queries are sorted into the key."""
    base = "http://h/api/v1/"
    assert resource_root("http://h/api/v1/contacts/42", base) == "http://h/api/v1/contacts"
    assert resource_root("http://h/api/v1/contacts?page=1", base) == "http://h/api/v1/contacts"
    assert cache_key("k", base + "users", [("b", "2"), ("a", "1")]) == cache_key(
        "k", base + "users", [("a", "1"), ("b", "2")]
    )
    assert cache_key("k", base + "users", []) != cache_key("k2", base + "users", [])


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"ttl": 0}, id="ttl-0"),
        pytest.param({"ttl": "60"}, id="ttl-str"),
        pytest.param({"max_entries": 0}, id="max-0"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    """Nonsense settings are refused at construction."""
    with pytest.raises(ConfigError):
        MemoryCache(**kwargs)


@pytest.mark.redis
async def test_redis_cache_is_shared_by_processes_and_invalidated_by_any(sim: Simulator, redis_url: str) -> None:
    """Two clients with their own RedisCache on one namespace: one fetches, the other hits; a write
    by either drops the entry for both; the key is in no Redis key."""
    namespace = f"t{uuid.uuid4().hex}:"
    async with (
        RedisCache(redis_url, ttl=60, namespace=namespace) as c1,
        RedisCache(redis_url, ttl=60, namespace=namespace) as c2,
    ):
        async with (
            AsyncSalescaling(sim.api_key, base_url=sim.url, cache=c1) as a,
            AsyncSalescaling(sim.api_key, base_url=sim.url, cache=c2) as b,
        ):
            listed = await a.contacts.list(page_size=50).to_list()
            assert await b.contacts.list(page_size=50).to_list() == listed
            assert sent(sim) == 1
            assert (await c2.statistics()) == CacheStatistics(hits=1, misses=0, entries=1)
            await b.contacts.create({"firstName": "Via B"})
            assert len(await a.contacts.list(page_size=50).to_list()) == len(listed) + 1
            assert sent(sim) == 3
            names = [k.decode() async for k in c1.redis.scan_iter(match=f"{namespace}*")]
            assert names and not any(sim.api_key in n for n in names)
            _, generation = await c1.get("x", "r")
            await c2.invalidate("r")
            await c1.set("x", "r", b"{}", generation)
            assert (await c1.get("x", "r"))[0] is None
            assert [k async for k in c1.redis.scan_iter(match=f"{namespace}e:*:x")] == []


async def test_a_failing_cache_never_fails_a_request(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """A RedisCache whose server is down: requests go to the server, a warning is logged."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="salescaling_async")
    async with (
        RedisCache(f"redis://127.0.0.1:{port}/0") as cache,
        AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client,
    ):
        await client.users.list().to_list()
        await client.users.list().to_list()
    assert sent(sim) == 2
    assert "response cache failed" in caplog.text


def test_the_blocking_client_uses_the_cache_too() -> None:
    """``Salescaling(cache=...)``: the second identical call is answered without a request."""
    from salescaling_async import Salescaling
    from salescaling_async.testing import simulator_in_thread

    cache = MemoryCache()
    with (
        simulator_in_thread(Simulator(records=3)) as sim,
        Salescaling(sim.api_key, base_url=sim.url, cache=cache) as client,
    ):
        first = client.users.list().to_list()
        assert client.users.list().to_list() == first
        assert sent(sim) == 1


async def test_scopes_are_checked_before_the_cache(sim: Simulator) -> None:
    """A view whose key lacks the scope raises ScopeError even when the answer is cached."""
    from salescaling_async import ScopeError

    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=MemoryCache()) as client:
        await client.users.list().to_list()
        limited = client.with_key(sim.api_key, scopes={"contacts:read"})  # same key: the entry would hit
        with pytest.raises(ScopeError):
            await limited.users.list().to_list()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"url": "http://not-redis"}, id="scheme"),
        pytest.param({"ttl": -1}, id="ttl"),
        pytest.param({"namespace": "a*"}, id="glob"),
    ],
)
def test_bad_redis_cache_settings_raise_config_error(kwargs: dict[str, Any]) -> None:
    """A RedisCache with a bad URL, TTL or namespace is refused at construction, before any I/O."""
    with pytest.raises(ConfigError):
        RedisCache(**kwargs)


async def test_a_write_through_a_cache_false_view_still_invalidates(sim: Simulator) -> None:
    """``with_options(cache=False)`` skips reading and storing, never the invalidation of a write."""
    cache = MemoryCache(ttl=600)
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
        before = await client.request("GET", "contacts", params={"limit": 1000})
        fresh = client.with_options(cache=False)
        await fresh.request("POST", "contacts", json={"firstName": "New", "lastName": "Person"})
        after = await client.request("GET", "contacts", params={"limit": 1000})
        assert len(after.data) == len(before.data) + 1
        await fresh.contacts.create({"firstName": "Typed"})
        assert len((await client.request("GET", "contacts", params={"limit": 1000})).data) == len(before.data) + 2


def _slow_write_server(mode: str) -> tuple[Any, dict[str, Any]]:
    """An aiohttp app whose POST is held until released, then answers a bad body (or hangs)."""
    import asyncio

    from aiohttp import web

    state: dict[str, Any] = {
        "name": "Old",
        "got_post": asyncio.Event(),
        "release": asyncio.Event(),
        "stop": asyncio.Event(),
        "applied": asyncio.Event(),
    }

    async def h_list(request: web.Request) -> web.Response:
        return web.json_response({"statusCode": 200, "data": [{"id": "1", "firstName": state["name"]}], "count": 1})

    async def h_post(request: web.Request) -> web.Response:
        await request.read()
        state["got_post"].set()
        await state["release"].wait()
        state["name"] = "New"
        state["applied"].set()
        if mode == "badjson":
            return web.Response(status=200, text="{not json", content_type="application/json")
        await state["stop"].wait()  # answers only once the test is over
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/api/v1/contacts", h_list)
    app.router.add_post("/api/v1/contacts", h_post)
    return app, state


@pytest.mark.parametrize("mode", ["badjson", "cancelled"])
async def test_a_failed_or_cancelled_write_still_invalidates_after_it(mode: str) -> None:
    """A GET cached while a write was in flight is dropped even when the write ends in a
    ResponseValidationError or is cancelled (the server may have applied it)."""
    import asyncio

    from aiohttp import web

    from salescaling_async import ResponseValidationError

    app, state = _slow_write_server(mode)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with AsyncSalescaling(
            "sk_test_key_0123456789", base_url=f"http://127.0.0.1:{port}/api/v1/", cache=MemoryCache(ttl=600)
        ) as client:
            for warm in range(4):  # past the cold start's single flight (a server without rate headers)
                await client.request("GET", f"contacts?warm={warm}")
            post = asyncio.create_task(client.request("POST", "contacts", json={"firstName": "New"}))
            await state["got_post"].wait()
            assert (await client.request("GET", "contacts")).data[0]["firstName"] == "Old"  # cached now
            state["release"].set()
            if mode == "badjson":
                with pytest.raises(ResponseValidationError):
                    await post
            else:
                await state["applied"].wait()
                post.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await post
            assert (await client.request("GET", "contacts")).data[0]["firstName"] == "New"
    finally:
        state["stop"].set()
        await runner.cleanup()


async def test_a_query_written_into_the_path_is_part_of_the_cache_key(sim: Simulator) -> None:
    """``request("GET", "contacts?page=2")`` is not answered with the cached page 1."""
    async with AsyncSalescaling(sim.api_key, base_url=sim.url, cache=MemoryCache(ttl=600)) as client:
        one = await client.request("GET", "contacts?limit=1&page=1")
        two = await client.request("GET", "contacts?limit=1&page=2")
        assert [x["id"] for x in one.data] != [x["id"] for x in two.data]
        assert (await client.request("GET", "contacts?page=2&limit=1")).data == two.data
        assert sent(sim) == 2
    assert cache_key("k", "http://h/a?x=1", []) == cache_key("k", "http://h/a", [("x", "1")])


async def test_a_write_to_a_differently_spelled_origin_invalidates(sim: Simulator) -> None:
    """Host case and an explicit default port do not hide a write from the cached GETs."""
    base = sim.url.replace("127.0.0.1", "localhost")
    async with AsyncSalescaling(sim.api_key, base_url=base, cache=MemoryCache(ttl=600)) as client:
        before = await client.request("GET", "contacts", params={"limit": 1000})
        await client.request("POST", base.replace("localhost", "LOCALHOST") + "contacts", json={"firstName": "Zed"})
        after = await client.request("GET", "contacts", params={"limit": 1000})
        assert len(after.data) == len(before.data) + 1
    base = "https://api.example.com/api/v1/"
    for spelled in ("https://API.example.com:443/api/v1/contacts/1", "HTTPS://api.example.com/api/v1/contacts"):
        assert resource_root(spelled, base) == resource_root(base + "contacts", base)


async def test_a_redis_that_never_answers_costs_only_the_short_timeout(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis accepting connections but never answering: each cache call gives up after
    ``timeout`` (0.25 s by default, not redis-py's 5 s), logged as a miss."""
    import asyncio
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepts (backlog), never answers
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        caplog.set_level(logging.WARNING, logger="salescaling_async")
        async with RedisCache(url) as cache, AsyncSalescaling(sim.api_key, base_url=sim.url, cache=cache) as client:
            kwargs = cache.redis.connection_pool.connection_kwargs
            assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.25
            await asyncio.wait_for(client.users.list().to_list(), 60)  # a guard against hanging, not a speed goal
        async with RedisCache(url, timeout=1.5) as slower:
            assert slower.redis.connection_pool.connection_kwargs["socket_timeout"] == 1.5
    assert sent(sim) == 1
    assert "Timeout" in caplog.text
    with pytest.raises(ConfigError):
        RedisCache(url, timeout=0)


@pytest.mark.redis
async def test_redis_cache_keys_do_not_grow_with_traffic(redis_url: str) -> None:
    """Stores and invalidations leave only TTL'd entries and one generation counter per root:
    no index of entry names that grows as long as stores keep coming; a store racing an
    invalidation is still dropped, and an invalidated entry is never read again."""
    namespace = f"t{uuid.uuid4().hex}:"
    async with RedisCache(redis_url, ttl=60, namespace=namespace) as cache:
        for i in range(210):
            _, generation = await cache.get(f"k{i}", "root")
            await cache.set(f"k{i}", "root", b"{}", generation)
            if i % 50 == 49:
                await cache.invalidate("root")
        names = [k.decode() async for k in cache.redis.scan_iter(match=f"{namespace}*")]
        others = [n for n in names if not n.startswith(f"{namespace}e:")]
        assert others == [f"{namespace}g:root"]
        for name in names:
            if name.startswith(f"{namespace}e:"):
                assert 0 < await cache.redis.pttl(name) <= 60_000
        assert (await cache.get("k199", "root"))[0] is None  # invalidated just after its store
        assert (await cache.get("k209", "root"))[0] == b"{}"
        _, generation = await cache.get("late", "root")
        await cache.set("late", "root", b"{}", generation)
        assert (await cache.get("late", "root"))[0] == b"{}"
        await cache.invalidate("root")
        await cache.set("racing", "root", b"{}", generation)  # saw the generation before the write
        assert (await cache.get("racing", "root"))[0] is None
        assert (await cache.get("late", "root"))[0] is None
