"""URL rules: the base URL, same-origin checks and redirects. Strictly private.

The key is sent only to the client's own origin: ``request()`` refuses other origins, and a
redirect to another origin is followed without the key (and outside the key's budget), only
for body-less requests, and never over plain http outside loopback (:func:`follow_redirect`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import unquote, urljoin, urlsplit

import attrs

from ._endpoints import CONTROL_CHARACTERS
from ._errors import ConfigError, ResponseValidationError
from ._request import RawRequest, RawResponse

DEFAULT_BASE_URL = "https://api.salescaling.com/api/v1/"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_CONTROL = re.compile(CONTROL_CHARACTERS)


def check_base_url(base_url: str | None, *, allow_insecure: bool) -> str:
    """Validate the base URL: https, or http only to a loopback host unless allowed."""
    url = base_url or os.environ.get("SALESCALING_BASE_URL") or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("base_url must not contain credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(url) and not allow_insecure:
        raise ConfigError(f"refusing plain http to {parts.hostname!r}; pass allow_insecure=True")
    return url if url.endswith("/") else url + "/"


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, lower-case host and port (the scheme's default when absent)."""
    p = urlsplit(url)
    return (p.scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme))


def resolve(base_url: str, path: str) -> str:
    """``path`` relative to ``base_url``, or ``path`` itself if absolute and of the same origin.

    The result must stay under the base URL's path (``../../admin`` or an absolute URL
    elsewhere on the host would send the key to what is not the API), and must be a
    well-formed URL (``http://[::1``, a port past 65535).

    Raises:
        ConfigError: The URL is malformed, has a control character (a CR or LF would read as a
            header break, other characters as a different path), is of another origin, or is
            outside the base path.
    """
    control = _CONTROL.search(path)
    if control is not None:
        raise ConfigError(
            f"request() got a path with the control character {control.group()!r} at index {control.start()}: "
            "percent-encode it (urllib.parse.quote) if it belongs in the path"
        )
    try:
        url = urljoin(base_url, path.lstrip("/")) if "://" not in path else path
        _ = urlsplit(url).port  # raises ValueError on a malformed port
        same_origin = origin(url) == origin(base_url)
    except ValueError as exc:
        raise ConfigError(f"request() got a malformed URL: {exc}") from None
    if not same_origin:
        raise ConfigError("request() only sends the key to the client's own origin")
    url_path = urlsplit(url).path
    if not url_path.startswith(urlsplit(base_url).path) or any(
        unquote(segment) in (".", "..") for segment in url_path.split("/")
    ):
        raise ConfigError("request() only sends the key to URLs under the base URL's path")
    return url


def is_loopback(url: str) -> bool:
    """Whether ``url`` names a loopback host (where plain http cannot leak anything)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


def has_body(raw: RawRequest) -> bool:
    """Whether ``raw`` sends a body (JSON, form fields or files)."""
    return raw.json is not None or raw.form is not None or bool(raw.files)


def follow_redirect(raw: RawRequest, response: RawResponse) -> tuple[RawRequest, bool]:
    """The request a redirect asks for, and whether it leaves the origin (then without the key).

    The rules, each checked before anything is sent:

    * ``Location`` must be a well-formed http(s) URL; anything else (``http://[::1``, a bad
      port, ``ftp:``) is a :class:`ResponseValidationError`, never a bare ``ValueError``.
    * A 303 becomes a GET (a HEAD stays a HEAD) without a body; the query is dropped (the
      ``Location`` carries its own).
    * The same origin keeps the method, the body and the key; a streamed upload cannot be
      sent twice, so such a redirect is refused.
    * Another origin is followed only for body-less requests (a body may hold personal data
      meant for the API alone), never over plain http to a non-loopback host, and never with
      the key.

    Raises:
        ResponseValidationError: The redirect cannot be followed safely.
    """
    status = response.status
    location = response.header_map.get("location")
    if not location:
        raise ResponseValidationError("redirect without Location", raw="", status_code=status)
    try:
        target = urljoin(raw.url, location)
        parts = urlsplit(target)
        _ = parts.port  # raises ValueError on a malformed port
        cross = origin(target) != origin(raw.url)
    except ValueError as exc:
        raise ResponseValidationError(
            f"malformed redirect Location: {exc}", raw=location[:200], status_code=status
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ResponseValidationError("redirect Location is not an http(s) URL", raw=location[:200], status_code=status)
    if status == 303:
        method = "HEAD" if raw.method == "HEAD" else "GET"
        raw = attrs.evolve(raw, method=method, json=None, form=None, files=())
    if cross:
        _check_cross_origin(raw, parts.scheme, target, status)
        headers = {k: v for k, v in raw.headers.items() if k.lower() != "x-api-key"}
        raw = attrs.evolve(raw, headers=headers)
    elif not raw.replayable:
        raise ResponseValidationError("a streamed upload cannot follow a redirect", raw="", status_code=status)
    return attrs.evolve(raw, url=target, params=[]), cross


def _check_cross_origin(raw: RawRequest, scheme: str, target: str, status: int) -> None:
    if has_body(raw):
        raise ResponseValidationError(
            f"refusing to send a {raw.method} body to another origin ({status} redirect)", raw="", status_code=status
        )
    if scheme == "http" and not is_loopback(target):
        raise ResponseValidationError("refusing a redirect to plain http on another host", raw="", status_code=status)
