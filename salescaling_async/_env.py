"""Configuration from the environment, for containers. Strictly private.

Read at client construction, only for what the caller did not pass:

* ``SALESCALING_REDIS_URL``: share the key's budget through Redis (a :class:`RedisBudget`).
* ``SALESCALING_DEADLINE``: seconds a call may wait for rate budget and retries (the
  :class:`RetryConfig` ``timeout``).
* ``SALESCALING_ALLOW_INSECURE``: ``1``/``true``/``yes``/``on`` allows plain ``http://`` to
  non-loopback hosts (it can only enable it; ``0``/``false``/``no``/``off`` or empty leave it off).

A malformed value is a :class:`ConfigError` naming the variable, never silently ignored.
"""

from __future__ import annotations

import math
import os

from ._config import RetryConfig
from ._errors import ConfigError
from ._stores import BudgetStore

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """The boolean variable ``name`` (unset: false)."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/true/yes/on or 0/false/no/off")


def env_deadline() -> float | None:
    """``SALESCALING_DEADLINE`` in seconds, or ``None`` when unset."""
    raw = os.environ.get("SALESCALING_DEADLINE", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError("SALESCALING_DEADLINE must be a number of seconds > 0")
    return value


def env_retry() -> RetryConfig | None:
    """A :class:`RetryConfig` with the environment's deadline, or ``None`` when unset."""
    deadline = env_deadline()
    return None if deadline is None else RetryConfig(timeout=deadline)


def env_budget() -> BudgetStore | None:
    """A :class:`RedisBudget` for ``SALESCALING_REDIS_URL``, or ``None`` when unset."""
    url = os.environ.get("SALESCALING_REDIS_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("SALESCALING_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    from ._redis import RedisBudget  # only when asked for: the core never imports Redis code

    return RedisBudget(url=url)
