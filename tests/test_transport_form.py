"""calls.upload always sends multipart/form-data (reference.md §2.1), checked by a real server."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web

from salescaling_async import AsyncSalescaling

from .conftest import serve


@pytest.mark.parametrize(
    "source",
    [
        pytest.param({"media_url": "https://example.com/a.mp3"}, id="media-url"),
        pytest.param({"file": b"RIFF....", "filename": "a.wav"}, id="file-bytes"),
    ],
)
async def test_upload_is_multipart_form_data(source: dict[str, Any]) -> None:
    """Whether from a URL or a file, the body is multipart/form-data with every field."""
    seen: list[tuple[str, dict[str, Any]]] = []

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        seen.append((request.content_type, {k: getattr(v, "filename", v) for k, v in form.items()}))
        if request.content_type != "multipart/form-data":
            return web.json_response(
                {"statusCode": 415, "message": "multipart only", "error": "Unsupported"}, status=415
            )
        return web.json_response({"statusCode": 200, "count": 1, "error": None, "data": {"callId": "c1"}}, status=201)

    app = web.Application()
    app.router.add_post("/api/v1/calls/upload", upload)
    async with serve(app) as url, AsyncSalescaling("k", base_url=f"{url}/api/v1/") as client:
        result = await client.calls.upload(
            name="Call", start_date_time=datetime(2024, 7, 18, 14, tzinfo=timezone.utc), **source
        )
    assert result.call_id == "c1"
    content_type, fields = seen[0]
    assert content_type == "multipart/form-data"
    assert fields["name"] == "Call" and fields["startDateTime"] == "2024-07-18T14:00:00.000Z"
    assert fields.get("mediaUrl", fields.get("file")) in ("https://example.com/a.mp3", "a.wav")
