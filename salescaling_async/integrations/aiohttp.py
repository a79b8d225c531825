"""aiohttp.web integration: one shared client per app, and a webhook receiver.

    app = web.Application()
    app.cleanup_ctx.append(salescaling_ctx())           # opens/closes one AsyncSalescaling
    async def handler(request):
        client = get_client(request)                    # interactive priority
    app.add_routes(webhook_routes(on_event, secret=...))

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from .._session import AsyncSalescaling
from .._types import Priority
from ..webhooks import WebhookError, WebhookVerifier, receive
from ._common import EventCallback, deliver

CLIENT_KEY: web.AppKey[AsyncSalescaling] = web.AppKey("salescaling_client", AsyncSalescaling)


def salescaling_ctx(**client_kwargs: Any) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry opening one :class:`AsyncSalescaling` for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with AsyncSalescaling(**client_kwargs) as client:
            app[CLIENT_KEY] = client
            yield

    return ctx


def get_client(request: web.Request) -> AsyncSalescaling:
    """The app's shared client, with interactive priority for request handlers."""
    return request.app[CLIENT_KEY].with_options(priority=Priority.INTERACTIVE)


def webhook_routes(
    callback: EventCallback,
    *,
    secret: str,
    path: str = "/webhooks/salescaling",
    header: str = "X-Webhook-Secret",
    event_type: str | None = None,
    max_body: int = 1024 * 1024,
) -> web.RouteTableDef:
    """Routes receiving Salescaling webhooks: verify, parse, call ``callback``, answer 204.

    Wrong secret: 401; body over ``max_body``: 413; malformed JSON: 400.
    """
    verifier = WebhookVerifier(secret, header, max_body)
    routes = web.RouteTableDef()

    @routes.post(path)
    async def receive_webhook(request: web.Request) -> web.Response:
        try:
            verifier.check_size(request.content_length)
            body = await request.content.read(max_body + 1)
            event = receive(body, request.headers, verifier, event_type=event_type)
        except WebhookError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        await deliver(callback, event)
        return web.Response(status=204)

    return routes
