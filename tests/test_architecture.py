"""Imports flow one way: pure modules stay pure, only the transport imports aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import salescaling_async

PACKAGE = Path(salescaling_async.__file__).parent  # the tree, or the installed wheel (nox -s wheel_tests)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.module:
                found.add("." + node.module)
    return found


@pytest.mark.parametrize(
    "name",
    [
        "_budget.py",
        "_backoff.py",
        "_convert.py",
        "_config.py",
        "_errors.py",
        "_urls.py",
        "_options.py",
        "_error_building.py",
        "_responses.py",
        "_request.py",
        "_endpoints.py",
        "_decode.py",
        "_proxies.py",
    ],
)
def test_pure_modules_import_no_io(name: str) -> None:
    """The math, policy and conversion modules never import asyncio, time or network code."""
    assert not _imports(PACKAGE / name) & {"asyncio", "time", "aiohttp", "anyio", "redis", "socket"}


def test_only_transport_and_testing_touch_aiohttp() -> None:
    """aiohttp is imported by exactly the transport, the simulator and the aiohttp integration.

    Compared as a set, so an entry that no longer imports aiohttp fails too (no stale allowlist).
    """
    importers = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if "aiohttp" in _imports(path)}
    assert importers == {"_transport.py", "testing/_simulator.py", "integrations/aiohttp.py"}


def test_resources_never_import_the_session() -> None:
    """Resources depend on the Requester protocol, never on the client class or its pipeline."""
    for path in (PACKAGE / "_resources").glob("*.py"):
        found = _imports(path)
        assert not any(i.startswith(("._session", "._pipeline")) or i == "aiohttp" for i in found), path


def test_models_know_nothing_of_json() -> None:
    """Models import no converter, no cattrs and no I/O."""
    for path in (PACKAGE / "models").glob("*.py"):
        assert not _imports(path) & {"cattrs", "json", "aiohttp", "asyncio"}, path
