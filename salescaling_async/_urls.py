"""URL rules: the base URL, same-origin checks and redirects. Strictly private.

The key is sent only to the client's own origin: ``request()`` refuses other origins, and a
redirect to another origin is followed without the key (and outside the key's budget).
"""

from __future__ import annotations

import os
from urllib.parse import urljoin, urlsplit

import attrs

from ._errors import ConfigError, ResponseValidationError
from ._request import RawRequest, RawResponse

DEFAULT_BASE_URL = "https://api.salescaling.com/api/v1/"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def check_base_url(base_url: str | None, *, allow_insecure: bool) -> str:
    """Validate the base URL: https, or http only to a loopback host unless allowed."""
    url = base_url or os.environ.get("SALESCALING_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("base_url must not contain credentials, a query or a fragment")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK and not allow_insecure:
        raise ConfigError(f"refusing plain http to {parts.hostname!r}; pass allow_insecure=True")
    return url if url.endswith("/") else url + "/"


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, lower-case host and port (the scheme's default when absent)."""
    p = urlsplit(url)
    return (p.scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme))


def resolve(base_url: str, path: str) -> str:
    """``path`` relative to ``base_url``, or ``path`` itself if absolute and of the same origin."""
    url = urljoin(base_url, path.lstrip("/")) if "://" not in path else path
    if origin(url) != origin(base_url):
        raise ConfigError("request() only sends the key to the client's own origin")
    return url


def follow_redirect(raw: RawRequest, response: RawResponse) -> tuple[RawRequest, bool]:
    """The request a redirect asks for, and whether it leaves the origin (then without the key).

    A 303 turns into a GET; the query is dropped (the ``Location`` carries its own).
    """
    location = response.header_map.get("location")
    if not location:
        raise ResponseValidationError("redirect without Location", raw="", status_code=response.status)
    target = urljoin(raw.url, location)
    cross = origin(target) != origin(raw.url)
    headers = {k: v for k, v in raw.headers.items() if not (cross and k.lower() == "x-api-key")}
    method = "GET" if response.status == 303 else raw.method
    return attrs.evolve(raw, url=target, headers=headers, method=method, params=[]), cross
