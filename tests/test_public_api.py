"""The public surface is a deliberate, sorted list."""

from __future__ import annotations

import salescaling_async
from salescaling_async import models, testing


def test_all_is_sorted_and_complete() -> None:
    """``__all__`` is sorted and lists every public name the package exposes."""
    for module in (salescaling_async, models, testing):
        assert module.__all__ == sorted(module.__all__), module.__name__
        public = {n for n in vars(module) if not n.startswith(("_", "@")) and n != "annotations"}
        submodules = {"models", "testing", "sync", "webhooks", "cli", "integrations", "calendars", "calls",
                      "contacts", "opportunities", "provisional", "users", "pytest_plugin", "redis"}
        assert public - submodules <= set(module.__all__) | {"__version__"}, module.__name__
        for name in module.__all__:
            assert hasattr(module, name)
