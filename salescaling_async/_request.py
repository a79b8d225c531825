"""Plain request/response values shared by the transport and the pipeline. Strictly private.

Standard library and attrs only; the key lives in ``RawRequest.headers``, which is excluded
from ``repr``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterable, Mapping
from typing import Any, Union

import attrs

from ._config import Timeouts

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
    """Strictly private. Everything the transport needs to send one request."""

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
        return all(f.replayable for f in self.files)


@attrs.frozen
class RawResponse:
    """Strictly private. Status, headers (all of them, in order) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str

    @functools.cached_property
    def header_map(self) -> dict[str, str]:
        """Headers with lower-case names (the last of duplicates wins), built once."""
        return {k.lower(): v for k, v in self.headers}
