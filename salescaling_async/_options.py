"""Per-client settings checked before anything is sent: key, scopes, timeouts. Strictly private."""

from __future__ import annotations

import os
from collections.abc import Iterable

import attrs

from ._config import RetryConfig, Timeouts
from ._endpoints import SCOPES
from ._errors import ConfigError
from ._types import UNSET, Priority, UnsetType


@attrs.frozen
class Options:
    """Strictly private. Per-view options (``with_options``)."""

    timeouts: Timeouts
    retry: RetryConfig
    priority: Priority
    use_cache: bool = True  # with_options(cache=False) bypasses the client's response cache


MAX_API_KEY_LENGTH = 512
"""The longest API key accepted (real keys are far shorter); longer input is refused unsent."""


def check_api_key(api_key: str | None) -> str:
    """Validate a key before anything is sent.

    Refused: no key, an empty key, a key longer than :data:`MAX_API_KEY_LENGTH` (512)
    characters, and any whitespace, control or non-ASCII character (header injection).
    """
    if api_key is None:
        api_key = os.environ.get("SALESCALING_API_KEY")
    if api_key is None:
        raise ConfigError("no API key: pass api_key= or set SALESCALING_API_KEY")
    if not isinstance(api_key, str) or not api_key:
        raise ConfigError("the API key must be a non-empty string")
    if api_key != api_key.strip():
        raise ConfigError(
            "the API key has leading or trailing whitespace (a trailing newline from a secret file or `echo`? strip it)"
        )
    if len(api_key) > MAX_API_KEY_LENGTH:
        raise ConfigError(f"the API key is longer than {MAX_API_KEY_LENGTH} characters")
    if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:  # 0x21-0x7E only
        raise ConfigError("the API key contains whitespace, control or non-ASCII characters")
    return api_key


def check_scopes(scopes: Iterable[str] | None) -> frozenset[str] | None:
    """The known scopes of a key, or ``None`` when not given (then nothing is checked)."""
    if scopes is None:
        return None
    if isinstance(scopes, str):
        raise ConfigError("scopes must be a collection of scope names, not one string")
    found = frozenset(scopes)
    unknown = found - SCOPES
    if unknown:
        raise ConfigError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
    return found


def to_timeouts(value: Timeouts | float | UnsetType | None) -> Timeouts:
    """``timeout=``: the defaults (``UNSET``), none at all (``None``), a total, or as given."""
    if value is UNSET:
        return Timeouts()
    if value is None:
        return Timeouts(connect=None, read=None, total=None)
    if isinstance(value, Timeouts):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Timeouts(total=float(value))
    raise ConfigError(f"timeout must be Timeouts or seconds, got {value!r}")
