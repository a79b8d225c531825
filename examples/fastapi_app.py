"""A FastAPI app sharing one Salescaling client across requests, plus a webhook receiver.

Run:  SALESCALING_API_KEY=... WEBHOOK_SECRET=... uvicorn examples.fastapi_app:app --timeout-graceful-shutdown 20
(or against the simulator: `salescaling simulate --port 8080` and
 SALESCALING_BASE_URL=http://127.0.0.1:8080/api/v1/ SALESCALING_API_KEY=sk_test_simulator)

`install(app)` opens the client for the app's lifetime, answers SDK errors as small JSON
errors (503 + Retry-After when overloaded, 502/504 when the API fails), sheds load with a
short queue deadline (SALESCALING_DEADLINE, default 5 s) and cancels the SDK call of a
client that disconnected.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

from fastapi import Depends, FastAPI

from salescaling_async import AsyncSalescaling
from salescaling_async.integrations.fastapi import get_salescaling, install, webhook_router
from salescaling_async.models import WebhookEvent
from salescaling_async.webhooks import ReplayGuard

WEBHOOK_SECRET = os.environ.get("WEBHOOK_SECRET", "")
if len(WEBHOOK_SECRET) < 16:
    sys.exit("WEBHOOK_SECRET is not set (or shorter than 16 characters): refusing to start")

events: list[dict[str, object]] = []


async def on_event(event: WebhookEvent) -> None:
    events.append({"type": type(event).__name__, "repr": repr(event)})


app = FastAPI()
install(app)
app.include_router(webhook_router(on_event, secret=WEBHOOK_SECRET, replay_guard=ReplayGuard()))


@app.get("/contacts")
async def first_contacts(
    client: Annotated[AsyncSalescaling, Depends(get_salescaling)], limit: int = 5
) -> list[str | None]:
    page = await client.contacts.list(page_size=limit).first_page()
    return [c.email for c in page.items]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/events")
async def received_events() -> list[dict[str, object]]:
    return events
