"""pytest plugin (entry point ``pytest11``): fixtures that run the simulator.

Fixtures (async, via pytest-asyncio):

* ``salescaling_simulator``: a running :class:`Simulator`.
* ``salescaling_client``: an :class:`AsyncSalescaling` connected to it, with rate limits
  scaled like the simulator's and retry backoff waits divided by its ``time_scale``.
* ``salescaling_client_options``: default keyword arguments of that client (``{}``; override
  it in a ``conftest.py`` to configure a whole directory; markers apply on top).

Configure the simulator per test with ``@pytest.mark.salescaling(time_scale=10, records=100,
faults=[...], keys={...}, limits=RateLimits(...))`` (any :class:`Simulator` argument), or for the
whole run with ``--salescaling-time-scale=N``.  Configure the client with
``@pytest.mark.salescaling_client(retry=RetryConfig(attempts=2), limits=..., timeout=5)`` (any
:class:`AsyncSalescaling` argument).

**No asyncio mode needed.**  Async tests that use these fixtures are marked
``@pytest.mark.asyncio`` by the plugin, so they run under pytest-asyncio's default ``strict``
mode as well as under ``asyncio_mode = "auto"``.  Other async tests follow your own settings.

    async def test_lists_contacts(salescaling_client):
        contacts = await salescaling_client.contacts.list().to_list()
        assert contacts
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Generator
from typing import Any

import attrs
import pytest

from .._config import RateLimits, RetryConfig
from .._session import AsyncSalescaling
from ._simulator import Simulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio (extra "testing")
    pytest_asyncio = None  # type: ignore[assignment]

FIXTURES = frozenset({"salescaling_simulator", "salescaling_client"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("salescaling")
    group.addoption(
        "--salescaling-time-scale",
        type=float,
        default=None,
        help="default time_scale of the salescaling simulator fixtures (windows shrink by it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "salescaling(**kwargs): Simulator arguments for the salescaling fixtures")
    config.addinivalue_line(
        "markers",
        "salescaling_client(**kwargs): AsyncSalescaling arguments (retry, limits, timeout, ...) "
        "for the salescaling_client fixture",
    )


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Generator[None, Any, None]:
    """Mark async tests using our fixtures for pytest-asyncio, whatever its mode.

    ``trylast`` makes this wrapper the innermost one, so the mark is in place before
    pytest-asyncio's own wrapper decides which items are asyncio tests.
    """
    outcome = yield
    if pytest_asyncio is None or not inspect.iscoroutinefunction(obj):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        wanted = isinstance(item, pytest.Function) and FIXTURES & set(item.fixturenames)
        if wanted and item.get_closest_marker("asyncio") is None:
            item.add_marker(pytest.mark.asyncio)


def _markers(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        kwargs.update(marker.kwargs)
    return kwargs


def _sim_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    scale = request.config.getoption("--salescaling-time-scale")
    if scale is not None:
        kwargs["time_scale"] = scale
    kwargs.update(_markers(request, "salescaling"))
    return kwargs


def scaled_retry(retry: RetryConfig, time_scale: float) -> RetryConfig:
    """``retry`` with its backoff waits divided by the simulator's ``time_scale``.

    Server hints (``Retry-After``) need no scaling: the simulator already sends scaled ones.
    """
    if time_scale == 1:
        return retry
    return attrs.evolve(retry, wait_initial=retry.wait_initial / time_scale, wait_max=retry.wait_max / time_scale)


def client_kwargs(sim: Simulator, options: dict[str, Any]) -> dict[str, Any]:
    """The ``salescaling_client`` arguments: the simulator's URL, key and scaled limits and
    backoff, overridden by ``options`` (an explicit ``retry`` is scaled too)."""
    kwargs: dict[str, Any] = {"limits": sim.limits or RateLimits(), **options}
    kwargs["retry"] = scaled_retry(kwargs.get("retry") or RetryConfig(), sim.time_scale)
    kwargs.setdefault("base_url", sim.url)
    return kwargs


@pytest.fixture(name="salescaling_client_options")
def _salescaling_client_options() -> dict[str, Any]:
    """Default keyword arguments of ``salescaling_client`` (none); override it in a conftest.py.

    ``salescaling_client`` markers are applied on top of these.
    """
    return {}


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(name="salescaling_simulator")
    async def _salescaling_simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
        async with Simulator(**_sim_kwargs(request)) as sim:
            yield sim

    @pytest_asyncio.fixture(name="salescaling_client")
    async def _salescaling_client(
        request: pytest.FixtureRequest, salescaling_simulator: Simulator, salescaling_client_options: dict[str, Any]
    ) -> AsyncIterator[AsyncSalescaling]:
        sim = salescaling_simulator
        kwargs = client_kwargs(sim, {**salescaling_client_options, **_markers(request, "salescaling_client")})
        async with AsyncSalescaling(kwargs.pop("api_key", sim.api_key), **kwargs) as client:
            yield client
