"""A response cache shared by a fleet, on Redis (extra ``salescaling-async[redis]``).

Layout under ``namespace`` (default ``salescaling:cache:``):

* ``e:<key>``: one entry (the JSON envelope), with the cache's TTL;
* ``i:<root>``: a set of the entry names of one resource root, so invalidation touches only
  them (no ``SCAN`` over the whole database); it expires with its newest entry;
* ``g:<root>``: the root's generation, bumped by every invalidation.

``store`` and ``invalidate`` are Lua scripts, so a store racing an invalidation either lands
before it (and is dropped by it) or sees the new generation and does nothing.  Hit and miss
counts are this process's; ``entries`` counts the whole namespace.
"""

from __future__ import annotations

from typing import Any

from ._cache import CacheStatistics, _check_ttl
from ._errors import ConfigError

STORE = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], KEYS[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"""

INVALIDATE = """
redis.call('INCR', KEYS[1])
local names = redis.call('SMEMBERS', KEYS[2])
for i = 1, #names, 500 do
  redis.call('DEL', unpack(names, i, math.min(i + 499, #names)))
end
redis.call('DEL', KEYS[2])
return #names
"""


class RedisCache:
    """GET responses cached in Redis, shared by every process of a fleet.

    Args:
        url: ``redis://host:port/db``.
        ttl: Seconds an entry stays valid.
        namespace: Prefix of every Redis key this cache writes.
        timeout: Seconds to wait for Redis (to connect, and for each answer) before the
            call counts as a cache failure, i.e. a miss: a Redis that accepts connections
            but never answers costs each request this long, not redis-py's 5 s default.
            (.. versionadded:: 0.2.0)

    Close it with :meth:`aclose` (or ``async with``) when done; the client does not own it.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        ttl: float = 60,
        namespace: str = "salescaling:cache:",
        timeout: float = 0.25,
    ) -> None:
        try:
            import redis.asyncio as aioredis  # optional dependency, imported on use
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigError("RedisCache needs redis: pip install 'salescaling-async[redis]'") from exc
        if not isinstance(namespace, str) or any(ch in namespace for ch in "*?[]\\"):
            raise ConfigError(f"namespace must be a string without glob characters, got {namespace!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.ttl = _check_ttl(ttl)
        self.namespace = namespace
        self.timeout = float(timeout)
        try:
            self.redis: Any = aioredis.Redis.from_url(
                url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        except ValueError as exc:
            raise ConfigError(f"RedisCache: {exc}") from None
        self._store = self.redis.register_script(STORE)
        self._invalidate = self.redis.register_script(INVALIDATE)
        self.hits = 0
        self.misses = 0

    def _names(self, key: str, root: str) -> tuple[str, str, str]:
        ns = self.namespace
        return f"{ns}e:{key}", f"{ns}i:{root}", f"{ns}g:{root}"

    async def get(self, key: str, root: str) -> tuple[bytes | None, int]:
        entry, _, gen = self._names(key, root)
        value, generation = await self.redis.mget(entry, gen)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value, int(generation or 0)

    async def set(self, key: str, root: str, value: bytes, generation: int) -> None:
        entry, index, gen = self._names(key, root)
        await self._store(keys=[gen, entry, index], args=[str(generation), value, int(self.ttl * 1000)])

    async def invalidate(self, root: str) -> int:
        _, index, gen = self._names("", root)
        return int(await self._invalidate(keys=[gen, index]))

    async def statistics(self) -> CacheStatistics:
        entries = 0
        async for _ in self.redis.scan_iter(match=f"{self.namespace}e:*", count=1000):
            entries += 1
        return CacheStatistics(hits=self.hits, misses=self.misses, entries=entries)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

    async def __aenter__(self) -> RedisCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<RedisCache namespace={self.namespace!r} ttl={self.ttl} hits={self.hits}>"
