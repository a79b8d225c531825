"""A response cache shared by a fleet, on Redis (extra ``salescaling-async[redis]``).

Layout under ``namespace`` (default ``salescaling:cache:``):

* ``g:<root>``: the root's generation, bumped (``INCR``) by every invalidation; one small
  counter per resource root, never more;
* ``e:<generation>:<key>``: one entry (the JSON envelope) stored under its root's generation
  at the time, with the cache's TTL.

Invalidation is a single ``INCR``: entries of older generations are never read again and
expire with their TTL, so nothing grows with traffic (no index of entry names to keep).
``lookup`` and ``store`` are Lua scripts reading the generation and the entry atomically, so
a store racing an invalidation either lands under the old generation (unreachable at once)
or sees the new generation and does nothing.  Hit and miss counts are this process's;
``entries`` counts the namespace's entry keys, invalidated ones included until they expire.
"""

from __future__ import annotations

from typing import Any

from ._cache import CacheStatistics, _check_ttl
from ._errors import ConfigError

LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2]) or false}
"""

STORE = """
local generation = redis.call('GET', KEYS[1]) or '0'
if generation ~= ARGV[1] then return 0 end
redis.call('SET', ARGV[2] .. generation .. ':' .. ARGV[3], ARGV[4], 'PX', ARGV[5])
return 1
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
        self._lookup = self.redis.register_script(LOOKUP)
        self._store = self.redis.register_script(STORE)
        self.hits = 0
        self.misses = 0

    async def get(self, key: str, root: str) -> tuple[bytes | None, int]:
        ns = self.namespace
        generation, value = await self._lookup(keys=[f"{ns}g:{root}"], args=[f"{ns}e:", key])
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value, int(generation)

    async def set(self, key: str, root: str, value: bytes, generation: int) -> None:
        ns = self.namespace
        await self._store(keys=[f"{ns}g:{root}"], args=[str(generation), f"{ns}e:", key, value, int(self.ttl * 1000)])

    async def invalidate(self, root: str) -> int:
        """Bump the generation of ``root``: its entries are never read again (they expire).

        Returns 0: the old entries are not counted (nothing scans for them).
        """
        await self.redis.incr(f"{self.namespace}g:{root}")
        return 0

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
