"""An aiohttp.web app sharing one Salescaling client across requests, plus a webhook receiver.

Run:  SALESCALING_API_KEY=... python examples/aiohttp_app.py --port 8000
"""

from __future__ import annotations

import argparse
import os

from aiohttp import web

from salescaling_async.integrations.aiohttp import get_client, salescaling_ctx, webhook_routes
from salescaling_async.models import WebhookEvent

EVENTS: web.AppKey[list[str]] = web.AppKey("events", list)


def make_app() -> web.Application:
    app = web.Application()
    app[EVENTS] = []
    app.cleanup_ctx.append(salescaling_ctx())

    async def on_event(event: WebhookEvent) -> None:
        app[EVENTS].append(type(event).__name__)

    async def contacts(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "5"))
        page = await get_client(request).contacts.list(page_size=limit).first_page()
        return web.json_response([c.email for c in page.items])

    async def events(request: web.Request) -> web.Response:
        return web.json_response(app[EVENTS])

    app.router.add_get("/contacts", contacts)
    app.router.add_get("/events", events)
    app.add_routes(webhook_routes(on_event, secret=os.environ.get("WEBHOOK_SECRET", "change-me-to-a-long-secret")))
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    web.run_app(make_app(), host="127.0.0.1", port=parser.parse_args().port, print=None)
