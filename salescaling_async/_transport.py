"""The transport seam and its one real implementation. Strictly private.

Only this module imports aiohttp.  ``AiohttpTransport`` owns one ``ClientSession`` (one
connection pool), created lazily inside the running loop and bound to it.  It maps every
aiohttp failure to the :class:`TransportError` family, telling apart failures proven to have
happened before anything was sent (``ConnectError``: the scheduler gets the slot back) from
those after (the request may have been counted or even processed).

Response bodies are read in chunks and counted after decompression, up to
``ResponseLimits.max_body_bytes``.  aiohttp (3.13.3 and later) inflates at most
``max(256 KiB, the stream's low-water mark)`` per step and pauses decompressing while the
stream buffer is above its high-water mark, so a gzip bomb can never inflate past the limit
in one chunk: memory stays bounded by the limit plus a few hundred KiB of buffers.  Past the
limit the connection is closed (never returned to the pool) and
:class:`ResponseTooLargeError` is raised.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol, cast

import aiohttp
import aiohttp.connector
from aiohttp import hdrs
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._config import PoolLimits, ResponseLimits, Timeouts
from ._deadlines import Deadlines
from ._errors import (
    ClientClosedError,
    ConnectError,
    ReadError,
    RequestTimeoutError,
    ResponseTooLargeError,
)
from ._proxies import ProxyRules
from ._request import RawRequest, RawResponse, make_response


class Transport(Protocol):
    """Sends one request and returns its response; raises the TransportError family.

    Public as :class:`salescaling_async.testing.Transport`: pass any object with these two
    methods as ``AsyncSalescaling(transport=...)``.  It must not follow redirects (the client
    decides whether the key may follow them) and should raise :class:`ConnectError` when
    provably nothing was sent, so the rate slot comes back.

    .. versionadded:: 0.1.0
    """

    async def send(self, request: RawRequest) -> RawResponse:
        """Send ``request`` once and return the whole response.

        Raises:
            TransportError: The request failed; ``sent`` tells whether anything was written.
        """
        ...

    async def aclose(self) -> None:
        """Release the connections; the client calls it once when it closes."""
        ...


class _LazyReadTimeout(ResponseHandler):
    """aiohttp's protocol, with its read-timeout timer moved instead of re-armed.

    aiohttp's ``sock_read`` cancels its timer and arms a new one on every chunk received and
    for every request (three timer handles for a small response).  Here a chunk, or the next
    request on a kept-alive connection, only moves the deadline; stopping the timeout only
    clears it.  The one armed timer, when it fires, re-arms itself at the moved deadline, does
    nothing while no read is awaited, and raises aiohttp's own timeout only when nothing
    arrived for ``sock_read`` seconds: the same bound on a stalled body, and no timer handle
    per request on a pooled connection.  Everything else is aiohttp's own code.
    """

    _read_deadline: float | None = None  # None: no read is being timed

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._drop_timeout()
            return
        when = self._loop.time() + timeout
        self._read_deadline = when
        handle = self._read_timeout_handle
        if handle is not None:
            if handle.when() <= when:
                return  # fires first and re-arms itself for the rest
            handle.cancel()  # a shorter timeout than the armed one: the timer must move up
        self._read_timeout_handle = self._loop.call_at(when, self._read_timer_fired)

    def _drop_timeout(self) -> None:
        self._read_deadline = None
        if self._connection_lost_called or self.transport is None:  # closed: release the timer
            super()._drop_timeout()

    def _read_timer_fired(self) -> None:
        self._read_timeout_handle = None
        when = self._read_deadline
        if when is None:
            return  # no read is being timed: the next one arms a timer again
        if when > self._loop.time():  # data arrived since the timer was armed
            self._read_timeout_handle = self._loop.call_at(when, self._read_timer_fired)
        else:
            self._on_read_timeout()


LAZY_READ_TIMER_AIOHTTP = ((3, 14),)
"""aiohttp releases whose protocol internals ``_LazyReadTimeout`` was read against and tested
with; any other release gets aiohttp's own protocol (correct, one timer per chunk)."""


def lazy_read_timer_fits(version: str | None = None) -> bool:
    """Whether this aiohttp (``version``, by default the installed one) is one
    ``_LazyReadTimeout`` knows, and still has the methods it overrides and calls."""
    try:
        major, minor = (int(part) for part in (version or aiohttp.__version__).split(".")[:2])
    except ValueError:
        return False
    needed = ("_reschedule_timeout", "_drop_timeout", "_on_read_timeout")
    return (major, minor) in LAZY_READ_TIMER_AIOHTTP and all(hasattr(ResponseHandler, name) for name in needed)


_CACHED_URL_CHARS = 2048  # longer URLs (long searches, id lists) are not kept
_MAX_CACHED_URLS = 1024
_query_urls: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
"""(URL, query pairs) -> the URL with its query, for URLs of at most ``_CACHED_URL_CHARS``
characters; emptied when full (a service asks for the same few pages and filters again)."""


def _url_with_query(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` encoded exactly as aiohttp's ``params=`` would (yarl's
    ``extend_query``), as a string, remembered.  aiohttp turns a string into a URL through
    yarl's cache of parsed URLs, so a URL asked for again (the first page, a poll) reuses one
    URL object and its worked-out parts; ``params=`` built a new one for every request (about
    11 µs of client CPU per request against a real server)."""
    key = (url, tuple(params))
    known = _query_urls.get(key)
    if known is not None:
        return known
    full = str(URL(url).extend_query(params))
    if len(full) <= _CACHED_URL_CHARS:
        if len(_query_urls) >= _MAX_CACHED_URLS:
            _query_urls.clear()
        _query_urls[key] = full
    return full


_CONNECTOR_FILE = aiohttp.connector.__file__


def _still_connecting(tb: TracebackType | None) -> bool:
    """Whether the total ran out while aiohttp was still getting the connection (waiting for
    the pool, connecting, a TLS handshake or a proxy's tunnel): nothing of the request was
    written yet, so it was certainly not sent.  Read from the frames the cancellation went
    through, only when a send timed out; anything else counts as sent (the safe side).
    """
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _CONNECTOR_FILE:
            return True
        tb = tb.tb_next
    return False


def _plain_within(headers: CIMultiDictProxy[str], limit: int) -> bool:
    """Whether the response declares an unencoded body of at most ``limit`` bytes."""
    length = headers.get(hdrs.CONTENT_LENGTH)  # istr names: no case folding per lookup
    return (
        length is not None
        and hdrs.CONTENT_ENCODING not in headers
        and len(length) < 19
        and length.isascii()
        and length.isdigit()
        and int(length) <= limit
    )


class AiohttpTransport:
    """The aiohttp implementation: one session, one connector, redirects never followed.

    Redirects are returned to the caller (``allow_redirects=False``) so that the pipeline
    decides whether the key may follow them.
    """

    _CHUNK = 64 * 1024

    def __init__(
        self,
        pool: PoolLimits | None = None,
        *,
        trust_env: bool = True,
        response_limits: ResponseLimits | None = None,
    ) -> None:
        self._pool = pool or PoolLimits()
        self._limits = response_limits or ResponseLimits()
        self._trust_env = trust_env  # read HTTPS_PROXY/NO_PROXY once, when the session opens
        self._proxies = ProxyRules()
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._last_timeouts: tuple[Timeouts | None, aiohttp.ClientTimeout] = (None, aiohttp.ClientTimeout())
        self._session: aiohttp.ClientSession | None = None
        self._deadlines: Deadlines | None = None
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and not self._closed:
            # Bound to its loop when made (below).  The loop is not asked for again: the
            # pipeline, the one caller, refuses every loop but its client's own before a
            # request gets here, and asking costs a getpid() system call on Python <= 3.11.
            return session
        loop = asyncio.get_running_loop()
        if self._closed:
            raise ClientClosedError("the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool.max_connections, keepalive_timeout=self._pool.keepalive_seconds
            )
            # aiohttp's trust_env would read the proxy variables and ~/.netrc again for every
            # request, in a worker thread (two executor hand-offs per request), and would send
            # the key in cleartext to an http proxy: the environment is read here, once.
            self._proxies = ProxyRules.from_environment() if self._trust_env else ProxyRules()
            if lazy_read_timer_fits() and callable(getattr(connector, "_factory", None)):  # see _LazyReadTimeout
                connector._factory = cast(
                    "functools.partial[ResponseHandler]", functools.partial(_LazyReadTimeout, loop=loop)
                )
            # No cookie jar: the API authenticates by key, and one shared jar would send a cookie
            # that one key's response set (a load balancer's, say) with every other key's
            # requests, across tenants; it would also parse Set-Cookie on every response.
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
            # aiohttp silently resends an idempotent request once when a pooled connection
            # drops before the response (RFC 9112 §9.3.1).  That second hit would ride on the
            # first one's rate slot, so it is switched off: our retry policy resends instead,
            # through the scheduler, with a slot of its own.  (No public switch exists.)
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
            self._deadlines = Deadlines(loop)
        return self._session

    async def send(self, request: RawRequest) -> RawResponse:
        session = self._get_session()
        method, url = request.method, request.url
        proxy = self._proxies.for_url(url)
        files = request.files
        limit = self._limits.max_body_bytes
        # The whole attempt's timeout is ours, not aiohttp's ``total`` (see _deadlines): the
        # same bound and the same cancellation, without a timer handle per request.
        total = request.timeouts.total
        deadlines = cast("Deadlines", self._deadlines)
        timed = deadlines.start(total)
        try:
            # Only what differs from aiohttp's defaults: the common request (no body, no proxy)
            # gives it four keywords fewer to sort out.
            extra: dict[str, Any] = {}
            if request.json is not None and not files:
                extra["json"] = request.json
            if files or request.form is not None:
                extra["data"] = self._form(request)
            if proxy is not None:
                extra["proxy"], extra["proxy_headers"] = proxy.url, proxy.headers
            async with session.request(
                method,
                _url_with_query(url, request.params) if request.params else url,
                headers=request.headers,  # a view's are in aiohttp's form already (prepare_headers)
                timeout=self._timeout(request.timeouts),
                allow_redirects=False,
                **extra,
            ) as resp:
                received = resp.headers
                if _plain_within(received, limit):
                    # The common case in one read, inline: aiohttp's parser ends the payload
                    # after Content-Length bytes, so the body is no longer than declared.
                    body = await resp.content.read()
                else:
                    body = await self._read_body(resp, method, url)
                return make_response(resp.status, tuple(received.items()), body, url)
        except asyncio.CancelledError as exc:
            if deadlines.expired_alone(timed):
                unsent = _still_connecting(exc.__traceback__)
                raise RequestTimeoutError(
                    f"timeout {'before' if unsent else 'after'} sending: the attempt took longer than its "
                    f"total of {total:g} s{' waiting for a connection' if unsent else ''}",
                    method=method,
                    url=url,
                    sent=not unsent,
                ) from None
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise RequestTimeoutError(
                f"connect timeout: {type(exc).__name__}", method=method, url=url, sent=False
            ) from None
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise RequestTimeoutError(
                f"timeout after sending: {type(exc).__name__}", method=method, url=url, sent=True
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"cannot connect: {exc.os_error}", method=method, url=url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise ReadError(
                f"connection failed after sending: {type(exc).__name__}: {exc}",
                method=method,
                url=url,
                sent=True,
            ) from None
        finally:
            deadlines.finish(timed)

    async def _read_body(self, resp: aiohttp.ClientResponse, method: str, url: str) -> bytes:
        """The decompressed body, counted chunk by chunk against the limit."""
        limit = self._limits.max_body_bytes
        # Content-Length counts the encoded bytes; only without an encoding is it the body's size.
        encoded = resp.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
        declared = resp.content_length
        if not encoded and declared is not None and declared <= limit:
            # The common case in one read: aiohttp's parser ends the payload after
            # Content-Length bytes, so the body can be no longer than the declared size.
            return await resp.content.read()
        body = bytearray()
        if encoded or declared is None:
            async for chunk in resp.content.iter_chunked(self._CHUNK):
                if len(body) + len(chunk) > limit:
                    break
                body += chunk
            else:
                return bytes(body)
        # Over the limit: drop the connection (a half-read body cannot be reused) and keep
        # nothing of what was read.
        resp.close()
        del body
        raise ResponseTooLargeError(
            f"response body of {method} {url} exceeds the limit of {limit} bytes",
            limit=limit,
            status_code=resp.status,
        )

    @staticmethod
    def prepare_headers(headers: Mapping[str, str]) -> CIMultiDictProxy[str]:
        """A client view's request headers in the form aiohttp sends (read-only, like the
        view's own): the pipeline asks once per view, so that no request converts them, as
        aiohttp does for any other mapping (a multi-tenant service alternates views)."""
        return CIMultiDictProxy(CIMultiDict(headers))

    def _timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        """The aiohttp form of ``timeouts``, built once per distinct value."""
        if timeouts is self._last_timeouts[0]:  # the same options object as the last request
            return self._last_timeouts[1]
        timeout = self._timeouts.get(timeouts)
        if timeout is None:
            t = timeouts
            # ``total`` is left to _deadlines (see send).
            timeout = aiohttp.ClientTimeout(total=None, connect=t.connect, sock_read=t.read)
            if len(self._timeouts) < 64:
                self._timeouts[timeouts] = timeout
        self._last_timeouts = (timeouts, timeout)
        return timeout

    @staticmethod
    def _form(request: RawRequest) -> aiohttp.FormData | None:
        """A ``multipart/form-data`` body (reference.md: the upload takes only that type)."""
        if not request.files and request.form is None:
            return None
        form = aiohttp.FormData(default_to_multipart=True)
        for name, value in (request.form or {}).items():
            form.add_field(name, value)
        for part in request.files:
            content: Any = part.content
            if isinstance(content, (str, os.PathLike)):
                content = open(content, "rb")  # noqa: SIM115 - aiohttp's payload closes it
            elif isinstance(content, bytes):
                content = io.BytesIO(content)
            form.add_field(part.field, content, filename=part.filename, content_type=part.content_type)
        return form

    async def aclose(self) -> None:
        self._closed = True
        if self._deadlines is not None:
            self._deadlines.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
