"""Calls (reference.md §2.1), including the multipart upload."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable
from datetime import datetime

from .._convert import format_datetime, structure
from .._endpoints import CALLS_GET, CALLS_LIST, CALLS_UPLOAD
from .._errors import ConfigError
from .._pagination import AsyncPaginator
from .._request import FileContent, FilePart
from .._types import Priority
from ..models import Call, CallUploadResult
from ._base import (
    M,
    Raw,  # noqa: F401 -- named in the quoted raw-view type of the class header
    Resource,
    filters,
)
from ._operations import listing, operation


class Calls(Resource[M, "Calls[Raw[M]]"]):
    """``client.calls``: list, get (provisional) and upload.

    .. versionadded:: 0.1.0
    """

    @listing
    def list(
        self,
        *,
        name: str | None = None,
        page_size: int = 100,
        start_page: int = 1,
        prefetch: int = 0,
        priority: Priority | None = None,
    ) -> AsyncPaginator[Call]:
        """Every call (``name`` matches partially)."""
        return self._list(
            CALLS_LIST,
            filters(name=name),
            page_size=page_size,
            start_page=start_page,
            prefetch=prefetch,
            priority=priority,
        )

    @operation
    async def get(self, call_id: str) -> Call:
        """One call by ``callId``. Provisional: ``GET /calls/{callId}`` is inferred."""
        return await self._get(CALLS_GET, call_id)

    @operation
    async def upload(
        self,
        *,
        name: str,
        start_date_time: datetime,
        media_url: str | None = None,
        file: FileContent | None = None,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        description: str | None = None,
        from_number: str | None = None,
        to_number: str | None = None,
    ) -> CallUploadResult:
        """Upload a recording from ``media_url`` or from ``file`` (bytes, a path, or an async
        iterable of chunks, sent as multipart).  Exactly one of the two is required.

        A streamed (async iterable) file cannot be resent, so such an upload is never retried.
        """
        if (media_url is None) == (file is None):
            raise ConfigError("give exactly one of media_url or file")
        if not name:
            raise ConfigError("name is required")
        if not isinstance(start_date_time, datetime):
            raise ConfigError("start_date_time must be a datetime")
        form = filters(
            name=name,
            startDateTime=format_datetime(start_date_time),
            mediaUrl=media_url,
            description=description,
            fromNumber=from_number,
            toNumber=to_number,
        )
        files: tuple[FilePart, ...] = ()
        if file is not None:
            files = (FilePart("file", filename or _file_name(file), file, content_type),)
        envelope = await self._client.call(CALLS_UPLOAD, form=form, files=files)
        return structure(envelope.data, CallUploadResult)


def _file_name(file: FileContent) -> str:
    """Check ``file`` and give its default upload name (a stat of a local path, no reading)."""
    if isinstance(file, (str, os.PathLike)):
        if not os.path.isfile(file):
            raise ConfigError(f"no such file: {os.fspath(file)!r}")
        return os.path.basename(os.fspath(file))
    if not isinstance(file, (bytes, AsyncIterable)):
        raise ConfigError("file must be bytes, a path or an async iterable of bytes")
    return "recording"
