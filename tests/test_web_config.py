"""Configuration from the environment (containers) and the key hint for trailing newlines."""

from __future__ import annotations

import pytest

from salescaling_async import (
    AsyncSalescaling,
    ConfigError,
    DeadlineExceededError,
    LocalBudget,
    RateLimits,
    RedisBudget,
    Window,
)
from salescaling_async.testing import FakeClock, FakeTransport, json_response

KEY = "sk_test_" + "k" * 24


def _client(**kwargs: object) -> AsyncSalescaling:
    return AsyncSalescaling(
        KEY, base_url="http://127.0.0.1:9/api/", transport=FakeTransport(lambda r: json_response([])), **kwargs
    )  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALESCALING_REDIS_URL", "SALESCALING_DEADLINE", "SALESCALING_ALLOW_INSECURE"):
        monkeypatch.delenv(name, raising=False)


def test_redis_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SALESCALING_REDIS_URL makes the client share its budget through Redis."""
    assert isinstance(_client().scheduler.budget, LocalBudget)
    monkeypatch.setenv("SALESCALING_REDIS_URL", "redis://127.0.0.1:1/0")
    budget = _client().scheduler.budget
    assert isinstance(budget, RedisBudget) and budget.url == "redis://127.0.0.1:1/0"


async def test_deadline_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SALESCALING_DEADLINE bounds the queue wait: a grant 60 s away is refused at once."""
    monkeypatch.setenv("SALESCALING_DEADLINE", "0.5")
    limits = RateLimits([Window("w", 1, 60.0)])
    async with _client(limits=limits, clock=FakeClock()) as client:
        await client.request("GET", "contacts")
        with pytest.raises(DeadlineExceededError) as info:
            await client.request("GET", "contacts")
    assert info.value.retry_after == pytest.approx(60.0, abs=0.1)


def test_allow_insecure_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SALESCALING_ALLOW_INSECURE=1 allows plain http to another host; unset it is refused."""
    with pytest.raises(ConfigError, match="allow_insecure"):
        AsyncSalescaling(KEY, base_url="http://api.internal/api/v1/")
    monkeypatch.setenv("SALESCALING_ALLOW_INSECURE", "true")
    assert AsyncSalescaling(KEY, base_url="http://api.internal/api/v1/").base_url == "http://api.internal/api/v1/"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("SALESCALING_DEADLINE", "soon", id="deadline-word"),
        pytest.param("SALESCALING_DEADLINE", "-1", id="deadline-negative"),
        pytest.param("SALESCALING_DEADLINE", "inf", id="deadline-inf"),
        pytest.param("SALESCALING_ALLOW_INSECURE", "maybe", id="flag"),
        pytest.param("SALESCALING_REDIS_URL", "http://user:hunter2@x/", id="redis-scheme"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """A malformed variable is a ConfigError naming it (never echoing a URL's password)."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as info:
        _client()
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(KEY + "\n", id="newline"),
        pytest.param(KEY + " ", id="space"),
        pytest.param("\t" + KEY, id="leading-tab"),
    ],
)
def test_key_error_hints_at_a_trailing_newline(key: str) -> None:
    """A key read from a file with its newline gets an error that says so (and never shows it)."""
    with pytest.raises(ConfigError, match="trailing newline") as info:
        AsyncSalescaling(key)
    assert KEY not in str(info.value)
