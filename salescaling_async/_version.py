"""The installed distribution's version, read once from its metadata. Strictly private."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("salescaling-async")
except PackageNotFoundError:  # pragma: no cover - running from a source tree never installed
    __version__ = "0.0.0+unknown"
