"""Plain request/response values shared by the transport and the pipeline.

Standard library and attrs only; the key lives in ``RawRequest.headers``, which is excluded
from ``repr``.  ``RawRequest`` and ``RawResponse`` are public through
:mod:`salescaling_async.testing` (the values a custom :class:`Transport` receives and returns);
the rest is strictly private.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, Union

import attrs

from ._config import Timeouts
from ._errors import ConfigError
from ._frozen import positional_maker
from ._types import Params

FileContent = Union[bytes, "os.PathLike[str]", str, AsyncIterable[bytes]]


@attrs.frozen
class FilePart:
    """A file field of a multipart body.

    ``content`` is bytes, a path, or an async iterable of byte chunks (sent streamed, so it
    cannot be resent: such an upload is never retried).
    """

    field: str
    filename: str
    content: FileContent
    content_type: str = "application/octet-stream"

    @property
    def replayable(self) -> bool:
        return isinstance(self.content, (bytes, str, os.PathLike))


@attrs.frozen
class RawRequest:
    """Everything a transport needs to send one request.

    Attributes:
        method: The upper-case HTTP method.
        url: The absolute URL, without the query.
        headers: Request headers, the API key included (hidden from ``repr``).
        params: Query parameters in order, repeated names allowed.
        json: A JSON body, or ``None``.
        form: Form fields of a multipart body, or ``None``.
        files: File parts of a multipart body.
        timeouts: The per-attempt timeouts.

    .. versionadded:: 0.1.0
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    params: list[tuple[str, str]] = attrs.field(factory=list)
    json: Any = None
    form: Mapping[str, str] | None = None
    files: tuple[FilePart, ...] = ()
    timeouts: Timeouts = attrs.field(factory=Timeouts)

    @property
    def replayable(self) -> bool:
        """Whether the request can be sent again (no streamed file part)."""
        return all(f.replayable for f in self.files)


@attrs.frozen
class RawResponse:
    """What a transport returns: status, headers (all of them, in order) and body bytes.

    Attributes:
        status: The HTTP status code.
        headers: Every header as ``(name, value)`` pairs, in the order received.
        body: The whole (decompressed) body.
        url: The URL the request was sent to.

    .. versionadded:: 0.1.0
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str
    header_map: dict[str, str] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(lambda self: _header_map(self.headers), takes_self=True)
    )
    """Headers with lower-case names (the last of duplicates wins), built with the response.

    (Every response the pipeline gets needs it; an attribute built in ``__init__`` costs less
    than a cached property of a slotted class, whose first read goes through ``__getattr__``.)
    """


def _header_map(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    lower = _LOWER
    return {lower.get(name) or _lower(name): value for name, value in headers}


make_request: Callable[
    [str, str, Mapping[str, str], list[tuple[str, str]], Any, Mapping[str, str] | None, tuple[FilePart, ...], Timeouts],
    RawRequest,
] = positional_maker(RawRequest)
"""``RawRequest(...)`` with every attribute given in order, built fast (see ``_frozen``)."""
_make_response: Callable[[int, tuple[tuple[str, str], ...], bytes, str, dict[str, str]], RawResponse] = (
    positional_maker(RawResponse)
)


def make_response(status: int, headers: tuple[tuple[str, str], ...], body: bytes, url: str) -> RawResponse:
    """``RawResponse(status, headers, body, url)``, built fast (see ``_frozen``): the transport's."""
    return _make_response(status, headers, body, url, _header_map(headers))


_LOWER: dict[str, str] = {}
"""Header name as received -> lower case: responses repeat the same dozen names, so each is
lowered once instead of a new string per header per response (bounded like the names)."""
_MAX_LOWER = 1024


def _lower(name: str) -> str:
    lower = name.lower()
    if len(_LOWER) < _MAX_LOWER and len(name) <= 64:  # a server inventing names cannot grow it
        _LOWER[name] = lower
    return lower


class Outcome(enum.Enum):
    """Strictly private. How one granted attempt ended, which decides what its rate slot costs.

    The values are the words the shared (Redis) budget's settle script uses.
    """

    RECEIVED = "received"
    """A response arrived: the slot counts from its receive time."""
    AMBIGUOUS = "ambiguous"
    """Something may have been sent: the slot counts, with a safety margin."""
    RETURNED = "returned"
    """Provably nothing was sent: the slot comes back."""

    @classmethod
    def of_failure(cls, *, sent: bool) -> Outcome:
        """The outcome of an attempt that got no response."""
        return cls.AMBIGUOUS if sent else cls.RETURNED


def encode_params(params: Params | None) -> list[tuple[str, str]]:
    """Query parameters as ordered pairs: lists repeat the name, ``None`` drops, bools are words.

    Raises:
        ConfigError: A value that is not a string, number, bool, ``None`` or a list of them,
            or a float that is not finite (it would go out as ``nan`` or ``inf``).
    """
    out: list[tuple[str, str]] = []
    for name, value in (params or {}).items():
        if type(value) is str:  # the common cases first: a filter, a page number
            out.append((name, value))
        elif type(value) is int:
            out.append((name, str(value)))
        else:
            for v in value if isinstance(value, list) else (value,):
                if v is not None:
                    out.append((name, _param_text(name, v)))
    return out


def _param_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"query parameter {name!r} must be a finite number, got {value!r}")
    if not isinstance(value, (str, int, float)):
        raise ConfigError(f"query parameter {name!r} has an unsupported value {value!r}")
    return str(value)


def check_json_body(body: Any) -> Any:
    """``body`` itself, once it is known to encode as strict JSON; else :class:`ConfigError`.

    Checked before a rate slot is taken, so a body JSON cannot carry (a ``date``, a ``set``,
    ``bytes``, ``NaN`` or infinity) costs nothing and never escapes as a bare ``TypeError``
    from the transport.
    """
    if body is None:
        return None
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the JSON body cannot be encoded: {exc}") from None
    return body
