"""pytest plugin (entry point ``pytest11``): fixtures that run the simulator.

Fixtures (async, via pytest-asyncio):

* ``salescaling_simulator``: a running :class:`Simulator`.
* ``salescaling_client``: an :class:`AsyncSalescaling` connected to it, with rate limits
  scaled like the simulator's.

Configure per test with ``@pytest.mark.salescaling(time_scale=10, records=100, faults=[...],
keys={...}, limits=RateLimits(...))`` (any :class:`Simulator` argument), or for the whole run
with ``--salescaling-time-scale=N``.

    async def test_lists_contacts(salescaling_client):
        contacts = await salescaling_client.contacts.list().to_list()
        assert contacts
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .._config import RateLimits
from .._session import AsyncSalescaling
from ._simulator import Simulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio (extra "testing")
    pytest_asyncio = None  # type: ignore[assignment]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("salescaling")
    group.addoption(
        "--salescaling-time-scale",
        type=float,
        default=None,
        help="default time_scale of the salescaling simulator fixtures (windows shrink by it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "salescaling(**kwargs): Simulator arguments for the salescaling fixtures"
    )


def _sim_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    scale = request.config.getoption("--salescaling-time-scale")
    if scale is not None:
        kwargs["time_scale"] = scale
    for marker in reversed(list(request.node.iter_markers("salescaling"))):
        kwargs.update(marker.kwargs)
    return kwargs


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(name="salescaling_simulator")
    async def _salescaling_simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
        async with Simulator(**_sim_kwargs(request)) as sim:
            yield sim

    @pytest_asyncio.fixture(name="salescaling_client")
    async def _salescaling_client(salescaling_simulator: Simulator) -> AsyncIterator[AsyncSalescaling]:
        sim = salescaling_simulator
        limits = (sim.limits or RateLimits()) if sim.limits is not None else RateLimits()
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, limits=limits) as client:
            yield client
