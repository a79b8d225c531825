"""Response caching for GET requests: the cache protocol, the in-memory cache and the pipeline steps.

Decisions, made once here:

* **Only GETs are cached**, and only successful ones (the unwrapped envelope, stored as JSON
  bytes so that no caller can mutate a cached value).
* **The key** is the full URL (origin, path, sorted query) plus a SHA-256 of the API key, so
  tenants never share entries and the key itself is never stored.
* **A hit sends nothing and spends no budget**: the pipeline looks the cache up after the scope
  and lifecycle checks and before the scheduler.
* **Writes invalidate**: any non-GET request through the client drops every entry under its
  resource root (``contacts`` for ``POST contacts`` and ``PUT contacts/42``), for every key,
  once before it is sent and once after its outcome.  Each root has a *generation*, bumped by
  every invalidation; a GET stores its response only if the generation it saw at lookup is
  unchanged, so a GET in flight during a write never re-caches the old data.
* A cache is an optimisation: a failing store (Redis down) is logged and behaves as a miss.

The pipeline (``AsyncSalescaling``) calls :func:`lookup` once per request and
:meth:`CacheSlot.settle` with the outcome.  Strictly private except for the re-exported
:class:`MemoryCache`, :class:`CacheStatistics` and the :class:`Cache` protocol.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

import attrs

from ._convert import Envelope
from ._errors import ConfigError

if TYPE_CHECKING:
    from ._request import RawRequest

log = logging.getLogger("salescaling_async")

E = TypeVar("E", bound="Envelope | None")


@attrs.frozen
class CacheStatistics:
    """Counters of one cache object (hits and misses counted in this process).

    .. versionadded:: 0.2.0
    """

    hits: int
    misses: int
    entries: int


@runtime_checkable
class Cache(Protocol):
    """What ``AsyncSalescaling(cache=...)`` needs from a response cache.

    Keys and roots are opaque strings built by the SDK; an entry belongs to exactly one root.

    .. versionadded:: 0.2.0
    """

    async def get(self, key: str, root: str) -> tuple[bytes | None, int]:
        """The entry (or ``None``) and the current generation of ``root``; counts a hit or miss."""
        ...

    async def set(self, key: str, root: str, value: bytes, generation: int) -> None:
        """Store ``value`` unless ``root`` was invalidated since its generation was ``generation``."""
        ...

    async def invalidate(self, root: str) -> int:
        """Drop every entry of ``root``, bump its generation; return how many were dropped."""
        ...

    async def statistics(self) -> CacheStatistics:
        """Hits, misses and the number of entries stored."""
        ...


def _check_ttl(ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ConfigError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


class MemoryCache:
    """An in-process cache of GET responses (a ``cachetools.TTLCache``, extra ``cache``).

    Args:
        ttl: Seconds an entry stays valid.
        max_entries: Least recently used entries are dropped beyond this many.
        timer: Monotonic seconds (tests pass ``FakeClock().now``); default ``time.monotonic``.

    .. versionadded:: 0.2.0
    """

    def __init__(self, ttl: float = 60, max_entries: int = 10_000, *, timer: Callable[[], float] | None = None) -> None:
        try:
            import cachetools  # optional dependency (extra "cache"), imported on use
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigError("MemoryCache needs cachetools: pip install 'salescaling-async[cache]'") from exc
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigError(f"max_entries must be an integer >= 1, got {max_entries!r}")
        self.ttl = _check_ttl(ttl)
        self.max_entries = max_entries
        extra: dict[str, Any] = {"timer": timer} if timer is not None else {}
        self._entries: cachetools.TTLCache[str, tuple[str, bytes]] = cachetools.TTLCache(
            maxsize=max_entries, ttl=self.ttl, **extra
        )
        self._generations: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: str, root: str) -> tuple[bytes | None, int]:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None, self._generations.get(root, 0)
        self.hits += 1
        return entry[1], self._generations.get(root, 0)

    async def set(self, key: str, root: str, value: bytes, generation: int) -> None:
        if self._generations.get(root, 0) == generation:
            self._entries[key] = (root, value)

    async def invalidate(self, root: str) -> int:
        self._generations[root] = self._generations.get(root, 0) + 1
        doomed = [k for k, (r, _) in list(self._entries.items()) if r == root]
        for k in doomed:
            self._entries.pop(k, None)
        return len(doomed)

    async def statistics(self) -> CacheStatistics:
        self._entries.expire()
        return CacheStatistics(hits=self.hits, misses=self.misses, entries=len(self._entries))

    def __repr__(self) -> str:
        return f"<MemoryCache ttl={self.ttl} entries={len(self._entries)}/{self.max_entries} hits={self.hits}>"


# -- the pipeline's steps --------------------------------------------------------------------


def key_hash(api_key: str) -> str:
    """A SHA-256 of the key (domain-separated): entries of two keys never mix, the key is never stored."""
    return hashlib.sha256(b"salescaling-async cache\0" + api_key.encode()).hexdigest()


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(parts: SplitResult) -> str:
    """``scheme://host[:port]`` normalised: lower-case scheme and host, default port dropped."""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _normal(url: str) -> tuple[str, str]:
    """The normalised origin and the path of ``url`` (its query and fragment dropped)."""
    parts = urlsplit(url)
    return _origin(parts), parts.path


def resource_root(url: str, base_url: str) -> str:
    """The resource an URL belongs to: the base URL plus the first path segment after it.

    Origins are compared normalised (host case, an explicit default port), so two spellings
    of the same URL always share a root.
    """
    base_origin, base_path = _normal(base_url)
    url_origin, path = _normal(url)
    same = url_origin == base_origin and path.startswith(base_path)
    rest = path[len(base_path) :] if same else path.lstrip("/")
    return base_origin + base_path + rest.split("/", 1)[0]


def cache_key(api_key: str, url: str, params: list[tuple[str, str]]) -> str:
    """The entry key of a GET: normalised URL, sorted query (the URL's own and ``params``), key hash."""
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True) + list(params)))
    return f"{_origin(parts)}{parts.path}?{query}#{key_hash(api_key)}"


_STALE_HEADERS = ("x-ratelimit-", "ratelimit", "retry-after")


def _dump(envelope: Envelope) -> bytes:
    """The entry of an envelope; rate-limit headers are left out (they would be stale on a hit)."""
    headers = {k: v for k, v in envelope.headers.items() if not k.lower().startswith(_STALE_HEADERS)}
    return json.dumps(
        {"s": envelope.status_code, "c": envelope.count, "e": envelope.error, "d": envelope.data, "h": headers},
        separators=(",", ":"),
    ).encode()


def _load(value: bytes) -> Envelope:
    doc = json.loads(value)
    return Envelope(
        status_code=doc["s"], count=doc["c"], error=doc["e"], data=doc["d"], headers=doc["h"], from_cache=True
    )


@attrs.define
class CacheSlot:
    """Strictly private. One request's view of the cache: a hit, or what to do with the outcome."""

    cache: Cache | None = None
    key: str = ""
    root: str = ""
    generation: int = 0
    write: bool = False
    envelope: Envelope | None = None

    async def settle(self, envelope: E) -> E:
        """Store a GET's envelope or invalidate after a write (also after a failed one); pass it on."""
        cache = self.cache
        if cache is None:
            return envelope
        try:
            if self.write:
                await cache.invalidate(self.root)
            elif envelope is not None:
                await cache.set(self.key, self.root, _dump(envelope), self.generation)
        except Exception as exc:  # noqa: BLE001 - a cache failure must never fail the request
            log.warning("response cache failed (%s: %s)", type(exc).__name__, exc)
        return envelope


async def lookup(cache: Cache | None, api_key: str, base_url: str, raw: RawRequest, *, read: bool = True) -> CacheSlot:
    """Look a request up: ``slot.envelope`` is the cached answer of a hit (send nothing then).

    A write invalidates its root here already, so GETs in flight cannot re-cache old data.
    ``read=False`` (a ``with_options(cache=False)`` view) neither reads nor stores GETs, but
    its writes still invalidate: the data they change is cached for every other view.
    """
    if cache is None or (not read and raw.method == "GET"):
        return CacheSlot()
    root = resource_root(raw.url, base_url)
    try:
        if raw.method != "GET":
            await cache.invalidate(root)
            return CacheSlot(cache, root=root, write=True)
        key = cache_key(api_key, raw.url, list(raw.params))
        value, generation = await cache.get(key, root)
    except Exception as exc:  # noqa: BLE001 - a cache failure must never fail the request
        log.warning("response cache failed (%s: %s); sending the request", type(exc).__name__, exc)
        return CacheSlot(cache, root=root, write=True) if raw.method != "GET" else CacheSlot()
    slot = CacheSlot(cache, key=key, root=root, generation=generation)
    if value is not None:
        slot.envelope = _load(value)
    return slot
