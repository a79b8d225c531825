"""Response bytes to JSON, with every failure typed. Strictly private; pure.

Rules, decided once here:

* **Success statuses (< 400)**: an empty body is ``None`` (no content).  Anything else
  must be strict UTF-8 (no byte-order mark), valid JSON without ``NaN``/``Infinity``, and
  nested at most :data:`MAX_DEPTH` arrays/objects deep; a body of only whitespace is not
  JSON.  Every failure is a :class:`ResponseValidationError`, never a bare
  ``UnicodeDecodeError``, ``ValueError`` or ``RecursionError``.
* **Error statuses (>= 400)**: the body only explains the error, so it never raises: the
  JSON value when the body is valid JSON within the depth bound, else the body text
  (undecodable bytes replaced), which :func:`describe_error_body` then reads.

The depth is checked without recursion: a body with few brackets cannot be deep, and any
other value is walked level by level after parsing (the C parser itself stops at the
interpreter's recursion limit, which is caught).  A value orjson decoded is first given
to orjson's encoder, whose fixed recursion limit proves it shallow in one pass in C (see
:func:`_too_deep_decoded`).  For a page of 100 records that check takes about a third of
the time orjson takes to decode it, the walk about as long as the decoding.

**orjson** (the ``fast`` extra), when installed, decodes success bodies first, about twice
as fast.  It can only ever give the standard library's answer: a body it refuses (NaN, a
BOM, bad UTF-8, lone surrogates, numbers beyond a double) goes to the standard library,
which decides and words the error, and so does a body with 19 digits in a row anywhere
(orjson reads integers beyond 64 bits as floats, the standard library exactly).
"""

from __future__ import annotations

import json
import threading
from itertools import chain, compress
from typing import Any

try:  # the optional ``fast`` extra
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _orjson = None  # type: ignore[assignment]

from ._errors import ResponseValidationError
from ._types import JSON

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (the API's documents are a few levels)."""

_RAW_CHARS = 65536


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every response: json.loads(text, parse_constant=...) would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


_CONTAINERS = frozenset((dict, list))


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests deeper than :data:`MAX_DEPTH`: a walk level by level, each
    level's containers found by C-level iteration (no Python step per leaf value)."""
    level: list[Any] = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return True
        children = list(chain.from_iterable([node.values() if node.__class__ is dict else node for node in level]))
        level = list(compress(children, map(_CONTAINERS.__contains__, map(type, children))))
    return False


def _wrapping(levels: int) -> tuple[list[Any], list[Any]]:
    """``levels`` nested lists, and the innermost one, whose one item is the value's place."""
    hole: list[Any] = [None]
    outer = hole
    for _ in range(levels - 1):
        outer = [outer]
    return outer, hole


def _encoder_slack() -> int | None:
    """How many list levels orjson's encoder accepts beyond :data:`MAX_DEPTH`, or ``None``.

    orjson's encoder refuses values nested deeper than its fixed recursion limit (254 levels
    in every release so far).  Found here once rather than assumed, so a release that
    changes the limit changes this number, and one without a limit (or a smaller one)
    leaves the check to :func:`_too_deep`.
    """
    if _orjson is None:
        return None

    def encodes(depth: int) -> bool:
        try:
            _orjson.dumps(_wrapping(depth)[0])
        except _orjson.JSONEncodeError:
            return False
        return True

    low, high = MAX_DEPTH, 1024  # encodes(low) must hold, encodes(high) must not
    if not encodes(low) or encodes(high):
        return None
    while high - low > 1:  # the deepest nesting it encodes lies in [low, high)
        middle = (low + high) // 2
        low, high = (middle, high) if encodes(middle) else (low, middle)
    return low - MAX_DEPTH


_SLACK = _encoder_slack()


class _Wrappings(threading.local):
    """Each thread's own wrapping (blocking clients decode on their portal threads): no lock,
    nothing shared, and nothing a fork could leave held."""

    def __init__(self) -> None:  # (runs at import too: an empty wrapping without orjson)
        self.outer, self.hole = _wrapping(_SLACK) if _SLACK else ([], [None])


_wrappings = _Wrappings()


def _too_deep_decoded(value: Any) -> bool:
    """:func:`_too_deep` for a value orjson decoded, proved shallow by orjson's encoder when it can.

    Put in the slack levels of wrapping, the value is accepted by the encoder exactly when
    it nests at most :data:`MAX_DEPTH` deep: one pass in C, about a third of the decoding's
    time, where the walk takes about as long as the decoding.  Whatever the encoder refuses
    (too deep, or anything else) is decided by the walk, so the answer is always the walk's.
    """
    if not _SLACK:
        return _too_deep(value)
    wrapping = _wrappings
    wrapping.hole[0] = value
    try:
        _orjson.dumps(wrapping.outer)
    except _orjson.JSONEncodeError:
        pass
    else:
        return False
    finally:
        wrapping.hole[0] = None
    return _too_deep(value)


# Each digit becomes "0", each opening bracket "[", every other byte a space: one pass finds
# both long numbers and how many arrays/objects a body can nest.
_SHAPE = bytes(48 if 48 <= b <= 57 else 91 if b in (91, 123) else 32 for b in range(256))
_LONG_NUMBER = b"0" * 19  # more digits in a row than every 64-bit integer is sure to have


def _parse(text: str) -> JSON:
    """Strict JSON with the depth bound; raises ``ValueError`` with a short reason."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    # Cheap pre-check: fewer brackets than the bound means the bound cannot be exceeded.
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    result: JSON = value
    return result


def decode_json(body: bytes, *, status: int) -> JSON:
    """Decode a response body (see the module docstring for the rules).

    Args:
        body: The body bytes, already decompressed and bounded by the transport.
        status: The HTTP status: below 400 the body must be JSON; from 400 a body that is
            not JSON is returned as text.

    Returns:
        The JSON value, ``None`` for an empty body, or (error statuses only) the text.

    Raises:
        ResponseValidationError: A success body that is not strict UTF-8 JSON within the
            depth bound.

    .. versionadded:: 0.2.0
    """
    if not body:
        return None
    if status >= 400:
        text = body.decode("utf-8", errors="replace")
        try:
            return _parse(text)
        except ValueError:
            return text
    if _orjson is not None:  # (inline: every success body of every request comes here)
        shape = body.translate(_SHAPE)
        if _LONG_NUMBER not in shape:
            try:
                value = _orjson.loads(body)
            except _orjson.JSONDecodeError:
                pass  # the standard library decides, and words the error
            else:
                if shape.count(b"[") <= MAX_DEPTH or not _too_deep_decoded(value):
                    result: JSON = value
                    return result
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"response is not valid UTF-8 (byte {exc.start})", body, status) from None
    try:
        return _parse(text)
    except ValueError as exc:
        # JSONDecodeError is a ValueError; its message names line and column.
        raise _invalid(f"response is not JSON: {exc}", body, status) from None


def _invalid(message: str, body: bytes, status: int) -> ResponseValidationError:
    raw = body[:_RAW_CHARS].decode("utf-8", errors="replace")
    return ResponseValidationError(message, raw=raw, status_code=status, errors=(message,))
