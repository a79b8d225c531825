"""``SALESCALING_LOG=debug|info|warning|error``: the SDK's logging to stderr, without code.

Read once when the package is imported.  It adds one stderr handler to the
``salescaling_async`` logger (never to the root logger, so the application's own logging
setup is untouched) and sets that logger's level.  The SDK never logs the API key.
Strictly private.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Strictly private. The handler installed by ``SALESCALING_LOG`` (recognised, never added twice)."""


def configure_from_env(environ: Mapping[str, str] = os.environ) -> logging.Handler | None:
    """Install the stderr handler if ``SALESCALING_LOG`` names a level; return it (or ``None``)."""
    value = environ.get("SALESCALING_LOG", "").strip().lower()
    if not value:
        return None
    level = LEVELS.get(value)
    if level is None:
        warnings.warn(
            f"SALESCALING_LOG={value!r} is not one of {', '.join(LEVELS)}; logging left as configured",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    logger = logging.getLogger("salescaling_async")
    logger.setLevel(level)
    for existing in logger.handlers:
        if isinstance(existing, _EnvHandler):
            existing.setLevel(level)
            return existing
    handler = _EnvHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    logger.addHandler(handler)
    return handler
