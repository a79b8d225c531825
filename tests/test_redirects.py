"""Redirect rules against two loopback aiohttp servers (two origins): bodies and the key stay home."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from salescaling_async import AsyncSalescaling, ResponseValidationError
from salescaling_async._urls import MAX_REDIRECTS, follow_redirect
from salescaling_async.testing import RawRequest, RawResponse, no_retries

from .conftest import serve


@attrs.define
class Seen:
    """What one server received: method, path, whether the key came along, and the body."""

    method: str
    path: str
    key: str | None
    body: str


@attrs.define
class Origin:
    url: str
    seen: list[Seen]
    routes: dict[str, Any]


def _app(origin: Origin) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.text()
        origin.seen.append(Seen(request.method, request.path, request.headers.get("x-api-key"), body))
        route = origin.routes.get(request.path)
        if route is None:
            return web.json_response({"statusCode": 200, "data": {"path": request.path, "body": body}})
        status, location = route()
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture(name="origins")
async def _origins() -> AsyncIterator[tuple[Origin, Origin]]:
    a, b = Origin("", [], {}), Origin("", [], {})
    async with serve(_app(a)) as url_a, serve(_app(b)) as url_b:
        a.url, b.url = url_a, url_b
        yield a, b


def _client(a: Origin) -> AsyncSalescaling:
    return AsyncSalescaling("secret-key", base_url=a.url + "/api/v1/", retry=no_retries())


def _to(status: int, location: str) -> Any:
    return lambda: (status, location)


async def test_same_origin_307_keeps_method_body_and_key(origins: tuple[Origin, Origin]) -> None:
    """A same-origin 307 resends the POST with its body and the key."""
    a, _ = origins
    a.routes["/api/v1/submit"] = _to(307, "/api/v1/final")
    async with _client(a) as client:
        envelope = await client.request("POST", "submit", json={"email": "x@y"})
    assert envelope.data["path"] == "/api/v1/final"
    assert [(s.method, s.path, s.key) for s in a.seen] == [
        ("POST", "/api/v1/submit", "secret-key"),
        ("POST", "/api/v1/final", "secret-key"),
    ]
    assert json.loads(a.seen[1].body) == {"email": "x@y"}


@pytest.mark.parametrize("status", [pytest.param(s, id=str(s)) for s in (301, 302, 307, 308)])
async def test_a_body_never_goes_to_another_origin(origins: tuple[Origin, Origin], status: int) -> None:
    """A POST redirected to another origin raises a typed error; the other origin receives nothing."""
    a, b = origins
    a.routes["/api/v1/submit"] = _to(status, b.url + "/collect")
    async with _client(a) as client:
        with pytest.raises(ResponseValidationError, match="another origin"):
            await client.request("POST", "submit", json={"email": "pii@example.com"})
    assert b.seen == []


async def test_303_becomes_a_get_without_body_even_across_origins(origins: tuple[Origin, Origin]) -> None:
    """A 303 after a POST is a GET without body; across origins it goes without the key."""
    a, b = origins
    a.routes["/api/v1/submit"] = _to(303, "/api/v1/result")
    a.routes["/api/v1/elsewhere"] = _to(303, b.url + "/result")
    async with _client(a) as client:
        await client.request("POST", "submit", json={"a": 1})
        envelope = await client.request("POST", "elsewhere", json={"a": 2})
    assert (a.seen[1].method, a.seen[1].body, a.seen[1].key) == ("GET", "", "secret-key")
    assert [(s.method, s.body, s.key) for s in b.seen] == [("GET", "", None)]
    assert envelope.data["path"] == "/result"


async def test_cross_origin_get_goes_without_the_key_and_every_hop_is_followed(
    origins: tuple[Origin, Origin],
) -> None:
    """A body-less GET may leave the origin (without the key); the other origin's own redirect is
    followed too, even back home, and the key never comes back."""
    a, b = origins
    a.routes["/api/v1/start"] = _to(302, b.url + "/hop")
    b.routes["/hop"] = _to(302, "/hop2")
    b.routes["/hop2"] = _to(307, a.url + "/api/v1/home")
    async with _client(a) as client:
        envelope = await client.request("GET", "start")
        assert client.statistics().granted == 1  # hops without the key spend none of its budget
    assert envelope.data["path"] == "/api/v1/home"
    assert [s.key for s in b.seen] == [None, None]
    assert [(s.path, s.key) for s in a.seen] == [("/api/v1/start", "secret-key"), ("/api/v1/home", None)]


async def test_a_redirect_loop_on_another_origin_is_an_error_not_an_empty_success(
    origins: tuple[Origin, Origin],
) -> None:
    """Hops on the other origin count toward the limit; running out raises, never ``data=None``."""
    a, b = origins
    a.routes["/api/v1/start"] = _to(302, b.url + "/loop")
    b.routes["/loop"] = _to(302, "/loop")
    async with _client(a) as client:
        with pytest.raises(ResponseValidationError, match="too many redirects"):
            await client.request("GET", "start")
    assert len(a.seen) + len(b.seen) == MAX_REDIRECTS + 1


async def test_plain_http_outside_loopback_and_malformed_locations_are_typed_errors(
    origins: tuple[Origin, Origin],
) -> None:
    """``http://`` to a non-loopback host, and a Location such as ``http://[::1``, raise typed errors."""
    a, _ = origins
    a.routes["/api/v1/insecure"] = _to(302, "http://files.example.com/x")
    a.routes["/api/v1/broken"] = _to(302, "http://[::1")
    a.routes["/api/v1/port"] = _to(302, "http://127.0.0.1:99999/x")
    a.routes["/api/v1/ftp"] = _to(302, "ftp://127.0.0.1/x")
    async with _client(a) as client:
        with pytest.raises(ResponseValidationError, match="plain http"):
            await client.request("GET", "insecure")
        for path in ("broken", "port", "ftp"):
            with pytest.raises(ResponseValidationError):
                await client.request("GET", path)
    assert len(a.seen) == 4


def test_follow_redirect_rules_in_isolation() -> None:
    """The pure rule: https elsewhere is fine for a GET; a streamed upload never follows a redirect."""
    raw = RawRequest("GET", "https://api.x/v1/a", headers={"x-api-key": "k"})
    moved, cross = follow_redirect(raw, RawResponse(301, (("Location", "https://cdn.y/f"),), b"", raw.url))
    assert cross and moved.headers == {} and moved.method == "GET"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    from salescaling_async._request import FilePart

    upload = RawRequest("POST", "https://api.x/v1/up", headers={}, form={}, files=(FilePart("f", "n", chunks()),))
    with pytest.raises(ResponseValidationError, match="streamed"):
        follow_redirect(upload, RawResponse(307, (("Location", "/v1/up2"),), b"", upload.url))
    local = follow_redirect(raw, RawResponse(302, (("Location", "http://127.0.0.2:8/f"),), b"", raw.url))[0]
    assert local.url == "http://127.0.0.2:8/f"  # plain http is fine on any loopback address
    head = RawRequest("HEAD", "https://api.x/v1/a", headers={})
    assert follow_redirect(head, RawResponse(303, (("Location", "/b"),), b"", head.url))[0].method == "HEAD"
