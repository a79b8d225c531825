"""FastAPI integration (extra ``salescaling-async[fastapi]``).

    app = FastAPI(lifespan=salescaling_lifespan())
    @app.get("/contacts")
    async def contacts(client: AsyncSalescaling = Depends(get_salescaling)): ...
    app.include_router(webhook_router(on_event, secret=...))

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .._session import AsyncSalescaling
from .._types import Priority
from ..webhooks import WebhookError, WebhookVerifier, receive
from ._common import EventCallback, deliver


def salescaling_lifespan(**client_kwargs: Any) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` opening one shared :class:`AsyncSalescaling` (``app.state.salescaling``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncSalescaling(**client_kwargs) as client:
            app.state.salescaling = client
            yield

    return lifespan


def get_salescaling(request: Request) -> AsyncSalescaling:
    """Dependency handing routes the shared client, with interactive priority."""
    client: AsyncSalescaling = request.app.state.salescaling
    return client.with_options(priority=Priority.INTERACTIVE)


def webhook_router(
    callback: EventCallback,
    *,
    secret: str,
    path: str = "/webhooks/salescaling",
    header: str = "X-Webhook-Secret",
    event_type: str | None = None,
    max_body: int = 1024 * 1024,
) -> APIRouter:
    """A router receiving Salescaling webhooks (401 wrong secret, 413 too big, 400 bad JSON)."""
    verifier = WebhookVerifier(secret, header, max_body)
    router = APIRouter()

    @router.post(path, status_code=204)
    async def receive_webhook(request: Request) -> Response:
        try:
            length = request.headers.get("content-length")
            verifier.check_size(int(length) if length and length.isdigit() else None)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                verifier.check_size(len(body))
            event = receive(bytes(body), request.headers, verifier, event_type=event_type)
        except WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        await deliver(callback, event)
        return Response(status_code=204)

    return router
