"""Which proxy a request may use, from the environment read once per session. Strictly private.

The rules keep the key off every network in cleartext:

* An ``https://`` target goes through ``HTTPS_PROXY`` (when set) as a ``CONNECT`` tunnel: the
  proxy learns the host and port, and the request, key included, travels inside TLS.
* A plain ``http://`` target (loopback, or ``allow_insecure=True``) never uses a proxy: an
  http proxy would read the key.  ``HTTP_PROXY`` is therefore never used.
* Loopback targets (``localhost``, ``127.0.0.0/8``, ``::1``) never use a proxy.
* ``NO_PROXY`` is honoured: ``*``, host names and domain suffixes, ``host:port``, IP networks.
* Only ``http://`` proxy URLs can carry a ``CONNECT`` tunnel here; any other proxy scheme is
  ignored with a warning.  Credentials in the proxy URL become ``Proxy-Authorization`` on the
  ``CONNECT`` request only.

aiohttp's own ``trust_env=True`` reads the environment (and ``~/.netrc``) again for every
request, in a worker thread; this module reads it once, and its per-request answer is one
dictionary lookup.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import urllib.request
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

log = logging.getLogger("salescaling_async")

_CACHE_SIZE = 256


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Proxy:
    """Strictly private. One proxy: its URL without credentials, and the CONNECT headers."""

    __slots__ = ("headers", "url")

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        self.url = url
        self.headers = headers

    def __repr__(self) -> str:  # never the credentials
        return f"<Proxy {self.url}>"


class ProxyRules:
    """Strictly private. The proxy settings of one session and the per-origin decision.

    Args:
        environ: ``scheme -> URL`` pairs as :func:`urllib.request.getproxies_environment`
            returns them (``"no"`` holds ``NO_PROXY``); empty: never a proxy.
    """

    __slots__ = ("_cache", "_environ", "_https")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(environ or {})
        self._https = _parse_proxy(self._environ.get("https"))
        self._cache: dict[str, Proxy | None] = {}

    @classmethod
    def from_environment(cls) -> ProxyRules:
        """Read ``HTTPS_PROXY``/``NO_PROXY`` (either case) now, once."""
        return cls(urllib.request.getproxies_environment())

    def for_url(self, url: str) -> Proxy | None:
        """The proxy to reach ``url`` through, or ``None`` for a direct connection."""
        if self._https is None:
            return None
        scheme_end = url.find("://")
        path_start = url.find("/", scheme_end + 3)
        origin = url if path_start < 0 else url[:path_start]
        try:
            return self._cache[origin]
        except KeyError:
            pass
        decision = self._decide(origin)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[origin] = decision
        return decision

    def _decide(self, origin: str) -> Proxy | None:
        parts = urlsplit(origin)
        if parts.scheme != "https" or not parts.hostname or is_loopback(parts.hostname):
            return None
        if bypassed(parts.hostname, parts.port or 443, self._environ.get("no", "")):
            return None
        return self._https


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts ``host``: ``*``, a host or domain suffix, or an address.

    Entries are comma-separated; ``example.com`` and ``.example.com`` both match the domain
    and its subdomains; ``host:port`` matches that port only; an IP network
    (``10.0.0.0/8``) matches the addresses in it.
    """
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name) or _in_network(host, name):
            return True
    return False


def _in_network(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def _parse_proxy(value: str | None) -> Proxy | None:
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value  # curl and requests read "host:port" as an http proxy
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "http" or not parts.hostname or port == -1:
        log.warning("ignoring the HTTPS_PROXY setting: only a valid http://host:port proxy can tunnel")
        return None
    headers: dict[str, str] = {}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(f"http://{host}:{port or 80}", headers)
