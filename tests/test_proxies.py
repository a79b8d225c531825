"""Proxies from the environment: read once per session, used only where the key stays encrypted."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from salescaling_async import AsyncSalescaling, RetryConfig, TransportError
from salescaling_async._proxies import ProxyRules, bypassed, is_loopback

from .conftest import serve

KEY = "sk_live_proxy_test_key_0123456789"
ENVELOPE = {"statusCode": 200, "count": 0, "error": None, "data": []}
NO_RETRY = RetryConfig(attempts=1)


@pytest.fixture(autouse=True)
def _clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no proxy variable of the machine's own."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class Recorder:
    """A loopback TCP server that keeps every byte it receives; it answers CONNECT, then closes.

    As a proxy it answers ``CONNECT`` with 200 and records what comes through the tunnel (a TLS
    ClientHello); as a plain server it records the first bytes.  Either way it then closes, so
    the client fails, and everything was recorded before that failure.
    """

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.received)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            chunk = await reader.read(65536)
            self.received.append(chunk)
            if chunk.startswith(b"CONNECT "):
                while b"\r\n\r\n" not in b"".join(self.received):
                    self.received.append(await reader.read(65536))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                self.received.append(await reader.read(65536))  # the TLS ClientHello
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self, host: str = "127.0.0.1") -> AsyncIterator[Recorder]:
        server = await asyncio.start_server(self._handle, host, 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()


def _outbound_address() -> str | None:
    """This machine's non-loopback address (no packet is sent), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only the routing table is consulted
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if is_loopback(address) else address


async def _envelope(_request: web.Request) -> web.Response:
    return web.json_response(ENVELOPE)


# -- the rules, directly ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        pytest.param(
            {"https": "http://proxy:3128"},
            "https://api.salescaling.com/api/v1/x",
            "http://proxy:3128",
            id="https-tunnels",
        ),
        pytest.param(
            {"https": "proxy:3128"}, "https://api.salescaling.com/x", "http://proxy:3128", id="bare-host-port"
        ),
        pytest.param({"http": "http://proxy:3128"}, "http://10.0.0.5:8080/api/v1/x", None, id="http-never"),
        pytest.param(
            {"http": "http://p:1", "https": "http://p:1"},
            "http://api.salescaling.com/x",
            None,
            id="http-never-even-with-https-proxy",
        ),
        pytest.param({"https": "http://proxy:3128"}, "https://127.0.0.1:8443/x", None, id="loopback-v4"),
        pytest.param({"https": "http://proxy:3128"}, "https://[::1]:8443/x", None, id="loopback-v6"),
        pytest.param({"https": "http://proxy:3128"}, "https://localhost/x", None, id="localhost"),
        pytest.param(
            {"https": "http://proxy:3128", "no": "salescaling.com"},
            "https://api.salescaling.com/x",
            None,
            id="no-proxy-suffix",
        ),
        pytest.param(
            {"https": "http://proxy:3128", "no": "*"}, "https://api.salescaling.com/x", None, id="no-proxy-star"
        ),
        pytest.param(
            {"https": "http://proxy:3128", "no": "other.com,ample.com"},
            "https://example.com/x",
            "http://proxy:3128",
            id="no-proxy-not-a-suffix",
        ),
        pytest.param(
            {"https": "https://proxy:3128"}, "https://api.salescaling.com/x", None, id="https-proxy-unsupported"
        ),
        pytest.param({"https": "socks5://proxy:1080"}, "https://api.salescaling.com/x", None, id="socks-unsupported"),
        pytest.param({}, "https://api.salescaling.com/x", None, id="no-environment"),
    ],
)
def test_which_requests_use_the_proxy(environ: dict[str, str], url: str, expected: str | None) -> None:
    """Only https targets off loopback and outside NO_PROXY go through an http:// proxy."""
    proxy = ProxyRules(environ).for_url(url)
    assert (proxy.url if proxy else None) == expected


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "expected"),
    [
        pytest.param("api.x.com", 443, "x.com", True, id="domain"),
        pytest.param("api.x.com", 443, ".x.com", True, id="dot-domain"),
        pytest.param("x.com", 443, " a.com , x.com ", True, id="spaces"),
        pytest.param("x.com", 443, "x.com:443", True, id="port-matches"),
        pytest.param("x.com", 443, "x.com:8443", False, id="port-differs"),
        pytest.param("10.1.2.3", 443, "10.0.0.0/8", True, id="network"),
        pytest.param("evilx.com", 443, "x.com", False, id="not-a-label-suffix"),
        pytest.param("x.com", 443, "", False, id="empty"),
    ],
)
def test_no_proxy_matching(host: str, port: int, no_proxy: str, expected: bool) -> None:
    """NO_PROXY entries match hosts, domain suffixes at label boundaries, ports and networks."""
    assert bypassed(host, port, no_proxy) is expected


def test_proxy_credentials_become_a_connect_header_and_never_show() -> None:
    """user:password in HTTPS_PROXY is sent as Proxy-Authorization and kept out of reprs."""
    proxy = ProxyRules({"https": "http://us%40er:p%3Ass@proxy:3128"}).for_url("https://api.salescaling.com/x")
    assert proxy is not None
    assert proxy.url == "http://proxy:3128"
    assert proxy.headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"us@er:p:ss").decode()}
    assert "p:ss" not in repr(proxy) and "p%3Ass" not in repr(proxy)


def test_an_unusable_proxy_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """An https:// or malformed HTTPS_PROXY is logged once and never used."""
    with caplog.at_level(logging.WARNING, logger="salescaling_async"):
        rules = ProxyRules({"https": "http://proxy:notaport"})
    assert rules.for_url("https://api.salescaling.com/x") is None
    assert "ignoring the HTTPS_PROXY setting" in caplog.text


# -- against real loopback servers ----------------------------------------------------------------


async def test_https_goes_through_connect_and_the_proxy_never_sees_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTPS_PROXY the proxy gets CONNECT host:443 (and its credentials), never the key."""
    async with Recorder().running() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://agent:secret@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with AsyncSalescaling(KEY, base_url="https://api.salescaling.test/api/v1/", retry=NO_RETRY) as client:
            with pytest.raises(TransportError):  # the recorder closes the tunnel after the ClientHello
                await client.request("GET", "contacts")
    assert proxy.data.startswith(b"CONNECT api.salescaling.test:443 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic " + base64.b64encode(b"agent:secret") in proxy.data
    assert proxy.received[-1][:1] == b"\x16"  # a TLS handshake record went through the tunnel
    assert KEY.encode() not in proxy.data
    assert b"x-api-key" not in proxy.data.lower()


async def test_loopback_bypasses_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loopback base URL is reached directly even with both proxy variables set."""
    app = web.Application()
    app.router.add_get("/api/v1/contacts", _envelope)
    async with Recorder().running() as proxy, serve(app) as url:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with AsyncSalescaling(KEY, base_url=f"{url}/api/v1/", retry=NO_RETRY) as client:
            envelope = await client.request("GET", "contacts")
    assert envelope.data == []
    assert proxy.received == []


async def test_http_base_url_never_uses_the_http_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain http off loopback (allow_insecure) goes direct: an http proxy would read the key."""
    address = _outbound_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    seen: list[str] = []

    async def contacts(request: web.Request) -> web.Response:
        seen.append(request.headers.get("x-api-key", ""))
        return web.json_response(ENVELOPE)

    app = web.Application()
    app.router.add_get("/api/v1/contacts", contacts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, address, 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with Recorder().running() as proxy:
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
            base = f"http://{address}:{port}/api/v1/"
            async with AsyncSalescaling(KEY, base_url=base, allow_insecure=True, retry=NO_RETRY) as client:
                await client.request("GET", "contacts")
    finally:
        await runner.cleanup()
    assert seen == [KEY]
    assert proxy.received == []


async def test_no_proxy_sends_https_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host listed in NO_PROXY is connected to directly, not through the proxy."""
    async with Recorder().running() as proxy, Recorder().running() as direct:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")  # loopback is direct anyway: a listed network too
        async with AsyncSalescaling(KEY, base_url=f"https://127.0.0.1:{direct.port}/api/v1/", retry=NO_RETRY) as client:
            with pytest.raises(TransportError):  # the recorder is no TLS server
                await client.request("GET", "contacts")
    assert proxy.received == []
    assert direct.received[0][:1] == b"\x16"  # the ClientHello came straight to the server


async def test_a_request_makes_no_executor_hand_off_and_no_proxy_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 requests: the environment is read once (when the session opens), no thread is used."""
    reads = 0
    real_read = urllib.request.getproxies_environment

    def counting_read() -> dict[str, str]:
        nonlocal reads
        reads += 1
        return real_read()

    monkeypatch.setattr(urllib.request, "getproxies_environment", counting_read)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # proxies configured, loopback exempt
    loop = asyncio.get_running_loop()
    hand_offs: list[Any] = []
    real_run_in_executor = loop.run_in_executor

    def counting_run_in_executor(executor: Any, func: Any, *args: Any) -> Any:
        hand_offs.append(func)
        return real_run_in_executor(executor, func, *args)

    app = web.Application()
    app.router.add_get("/api/v1/contacts", _envelope)
    async with serve(app) as url:
        monkeypatch.setattr(loop, "run_in_executor", counting_run_in_executor)
        async with AsyncSalescaling(KEY, base_url=f"{url}/api/v1/", retry=NO_RETRY) as client:
            for _ in range(10):
                await client.request("GET", "contacts")
            await asyncio.gather(*(client.contacts.list(page_size=5).first_page() for _ in range(10)))
    assert hand_offs == []
    assert reads == 1
