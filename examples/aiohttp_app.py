"""An aiohttp.web app sharing one Salescaling client across requests, plus a webhook receiver.

Run:  SALESCALING_API_KEY=... WEBHOOK_SECRET=... python examples/aiohttp_app.py --port 8000

`setup(app)` opens the client for the app's lifetime, answers SDK errors as small JSON
errors (503 + Retry-After when overloaded, 502/504 when the API fails) and sheds load with a
short queue deadline (SALESCALING_DEADLINE, default 5 s).  `handler_cancellation=True`
cancels the SDK call of a client that disconnected.
"""

from __future__ import annotations

import argparse
import os
import sys

from aiohttp import web

from salescaling_async.integrations.aiohttp import get_client, setup, webhook_routes
from salescaling_async.models import WebhookEvent
from salescaling_async.webhooks import ReplayGuard

EVENTS: web.AppKey[list[str]] = web.AppKey("events", list)


def make_app(webhook_secret: str) -> web.Application:
    app = web.Application()
    app[EVENTS] = []
    setup(app)

    async def on_event(event: WebhookEvent) -> None:
        app[EVENTS].append(type(event).__name__)

    async def contacts(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "5"))
        page = await get_client(request).contacts.list(page_size=limit).first_page()
        return web.json_response([c.email for c in page.items])

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def events(request: web.Request) -> web.Response:
        return web.json_response(app[EVENTS])

    app.router.add_get("/contacts", contacts)
    app.router.add_get("/health", health)
    app.router.add_get("/events", events)
    app.add_routes(webhook_routes(on_event, secret=webhook_secret, replay_guard=ReplayGuard()))
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if len(secret) < 16:
        sys.exit("WEBHOOK_SECRET is not set (or shorter than 16 characters): refusing to start")
    web.run_app(
        make_app(secret), host="127.0.0.1", port=port, print=None, handler_cancellation=True, shutdown_timeout=20
    )
