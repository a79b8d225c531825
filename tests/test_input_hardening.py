"""Hostile input refused before sending: ids that change the path, oversized keys; no secret in reprs."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salescaling_async import AsyncSalescaling, ConfigError, Envelope, RedisBudget, RedisCache, Salescaling
from salescaling_async._endpoints import CONTACTS_GET, USERS_UPDATE_METADATA, check_path_id
from salescaling_async._options import MAX_API_KEY_LENGTH, check_api_key
from salescaling_async.testing import (
    FakeClock,
    FakeTransport,
    RawRequest,
    RawResponse,
    SimKey,
    Simulator,
    json_response,
)
from salescaling_async.webhooks import WebhookVerifier

SECRET = "sk_live_" + "S3cr3t" * 4

BAD_IDS = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param(".", id="dot"),
    pytest.param("..", id="dot-dot"),
    pytest.param("a/b", id="slash"),
    pytest.param("../users", id="traversal"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("%2e%2e", id="encoded-dots"),
    pytest.param("%2E%2e", id="encoded-dots-mixed-case"),
    pytest.param(".%2E", id="half-encoded"),
    pytest.param("a%2Fb", id="encoded-slash-upper"),
    pytest.param("a%2fb", id="encoded-slash-lower"),
    pytest.param("a%5cb", id="encoded-backslash"),
    pytest.param("a\nb", id="newline"),
]


@pytest.fixture(name="sent")
def _sent() -> list[RawRequest]:
    return []


@pytest.fixture(name="client")
def _client(clock: FakeClock, sent: list[RawRequest]) -> AsyncSalescaling:
    def handler(request: RawRequest) -> RawResponse:
        sent.append(request)
        return json_response({"id": "ok"})

    return AsyncSalescaling(
        SECRET, base_url="https://api.example.com/api/v1/", transport=FakeTransport(handler), clock=clock
    )


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_ids_that_change_the_path_are_refused_before_sending(
    client: AsyncSalescaling, sent: list[RawRequest], bad: str
) -> None:
    """``get``, ``update_metadata`` and the raw view refuse such ids with ConfigError; nothing is sent."""
    with pytest.raises(ConfigError, match="one path segment"):
        await client.contacts.get(bad)
    with pytest.raises(ConfigError):
        await client.users.update_metadata(bad, {"a": 1})
    with pytest.raises(ConfigError):
        await client.companies.with_raw_response.get(bad)
    with pytest.raises(ConfigError):
        CONTACTS_GET.render(id=bad)
    assert sent == []
    assert client.statistics().granted == 0


@pytest.mark.parametrize("good", ["abc123", "a b", "x?y#z", "65f1c0ffee", "é-ü", "a.b", "..a"])
async def test_ordinary_ids_are_one_quoted_segment(
    client: AsyncSalescaling, sent: list[RawRequest], drive: Any, good: str
) -> None:
    """Other ids are sent, quoted into exactly one path segment."""
    await drive(client.contacts.get(good))
    assert sent[0].url.startswith("https://api.example.com/api/v1/contacts/")
    assert "/" not in sent[0].url.removeprefix("https://api.example.com/api/v1/contacts/")
    assert USERS_UPDATE_METADATA.render(id=good).count("/") == 2


def test_non_string_ids_are_refused() -> None:
    """An id that is not a string is a ConfigError, not a TypeError."""
    with pytest.raises(ConfigError):
        CONTACTS_GET.render(id=12)  # type: ignore[arg-type]


def test_keys_longer_than_the_bound_are_refused() -> None:
    """A key of more than 512 characters is refused on both clients, and in ``with_key``."""
    assert MAX_API_KEY_LENGTH == 512
    AsyncSalescaling("k" * MAX_API_KEY_LENGTH)
    for make in (AsyncSalescaling, Salescaling):
        with pytest.raises(ConfigError, match="512") as info:
            make("k" * 100_000)
        assert "kkkk" not in str(info.value)
    with pytest.raises(ConfigError):
        AsyncSalescaling("k").with_key("k" * (MAX_API_KEY_LENGTH + 1))


def test_a_key_is_accepted_exactly_when_every_character_is_visible_ascii() -> None:
    """Every character of the Basic Multilingual Plane and the first astral ones, inside a key:
    accepted exactly for 0x21-0x7E (no whitespace, control, DEL or non-ASCII: header injection)."""
    for code in range(0x20000):
        key = f"sk{chr(code)}k"
        try:
            check_api_key(key)
            accepted = True
        except ConfigError:
            accepted = False
        assert accepted is (0x21 <= code <= 0x7E), hex(code)


async def test_no_public_object_shows_a_secret_in_its_repr() -> None:
    """Clients, views, pipelines, statistics, requests, verifiers, simulators and Redis stores hide secrets."""
    client = AsyncSalescaling(SECRET)
    blocking = Salescaling(SECRET)
    try:
        objects: list[Any] = [
            client,
            client.with_key(SECRET + "2"),
            client.with_options(timeout=3.0),
            client._pipeline,
            client.statistics(),
            client.contacts,
            blocking,
            blocking.with_key(SECRET + "2"),
            blocking.contacts.with_raw_response,
            RawRequest("GET", "https://api.example.com/", headers={"x-api-key": SECRET}),
            Envelope(status_code=200, count=None, error=None, data=None, headers={"x-api-key": SECRET}),
            WebhookVerifier(SECRET),
            Simulator(keys={SECRET: SimKey()}),
            RedisBudget(f"redis://user:{SECRET}@127.0.0.1:6379/0"),
            AsyncSalescaling(SECRET, budget=RedisBudget(f"redis://:{SECRET}@127.0.0.1:6379/0")).scheduler,
            RedisCache(f"redis://:{SECRET}@127.0.0.1:6379/0"),
        ]
        for obj in objects:
            assert SECRET not in repr(obj), type(obj).__name__
            assert "S3cr3t" not in str(obj), type(obj).__name__
    finally:
        blocking.close()


@given(st.text(max_size=12) | st.text(alphabet="%25eEfFcCa./\\ ", max_size=10))
def test_a_checked_id_is_always_exactly_one_harmless_segment(value: str) -> None:
    """Whatever the id, it is refused or becomes one segment that no server decodes into a path step."""
    try:
        segment = check_path_id(value)
    except ConfigError:
        return
    assert "/" not in segment and "\\" not in segment
    assert unquote(segment) == value
    decoded = unquote(unquote(segment))  # even a server that decodes twice finds no path step
    assert "/" not in decoded and "\\" not in decoded and decoded.strip() not in ("", ".", "..")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("http://[::1", id="unclosed-ipv6"),
        pytest.param("http://127.0.0.1:99999/x", id="bad-port"),
        pytest.param("../../admin", id="dot-dot"),
        pytest.param("contacts/../../admin", id="inner-dot-dot"),
        pytest.param("/api/%2e%2e/admin", id="encoded-dot-dot"),
        pytest.param("contacts\r\nX-Evil: 1", id="crlf"),
        pytest.param("contacts\nx", id="lf"),
        pytest.param("contacts\x00", id="nul"),
    ],
)
async def test_request_refuses_malformed_urls_and_paths_outside_the_base(path: str) -> None:
    """``request()`` raises ConfigError for a malformed URL or one resolving outside the base
    path, and sends nothing."""
    async with Simulator() as sim:
        for spelled in (path, sim.url.split("/api/")[0] + "/admin" if path == "../../admin" else path):
            async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
                with pytest.raises(ConfigError):
                    await client.request("GET", spelled)
        assert sim.stats().accepted == 0


async def test_a_key_echoed_by_the_server_is_redacted_from_errors() -> None:
    """A server echoing the key in an error body or a malformed 2xx body: the key is in no
    part of the exception (str, repr, message, messages, reason, body, raw)."""
    from aiohttp import web

    from salescaling_async import APIStatusError, ResponseValidationError, RetryConfig

    async def h_error(request: web.Request) -> web.Response:
        key = request.headers["x-api-key"]
        return web.json_response(
            {"statusCode": 400, "message": [f"Invalid API key {key}", "other"], "error": f"Bad {key}"}, status=400
        )

    async def h_bad(request: web.Request) -> web.Response:
        return web.Response(text="{not json " + request.headers["x-api-key"], content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/contacts/1", h_error)
    app.router.add_get("/api/v1/contacts/2", h_bad)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/"
    try:
        async with AsyncSalescaling(SECRET, base_url=base, retry=RetryConfig(attempts=1)) as client:
            with pytest.raises(APIStatusError) as status:
                await client.contacts.get("1")
            with pytest.raises(ResponseValidationError) as invalid:
                await client.contacts.get("2")
    finally:
        await runner.cleanup()
    err = status.value
    assert "[REDACTED]" in err.message
    for text in (str(err), repr(err), err.message, *err.messages, err.reason, repr(err.body)):
        assert SECRET not in str(text)
    assert "[REDACTED]" in invalid.value.raw
    assert SECRET not in invalid.value.raw + str(invalid.value) + repr(invalid.value)


def test_window_names_differing_only_in_case_are_refused() -> None:
    """Rate-limit headers name windows in any case, so two such windows would read one header."""
    from salescaling_async import RateLimits, Window

    with pytest.raises(ConfigError, match="unique ignoring case"):
        RateLimits((Window("short", 20, 1.0), Window("Short", 10, 2.0)))
    assert len(RateLimits((Window("short", 20, 1.0), Window("long", 1000, 60.0))).windows) == 2


@pytest.mark.parametrize(
    ("path", "shown"), [("contacts\r\nX-Evil: 1", "'\\r' at index 8"), ("con\x7ftacts", "'\\x7f' at index 3")]
)
async def test_a_control_character_in_a_path_is_named_in_the_error(path: str, shown: str) -> None:
    """The error says what is wrong (not "another origin"), before anything is sent."""
    async with AsyncSalescaling("k", base_url="http://127.0.0.1:9/api/v1/") as client:
        with pytest.raises(ConfigError, match="control character") as caught:
            await client.request("GET", path)
    assert shown in str(caught.value)
