"""A FastAPI app sharing one Salescaling client across requests, plus a webhook receiver.

Run:  SALESCALING_API_KEY=... uvicorn examples.fastapi_app:app
(or against the simulator: `salescaling simulate --port 8080` and
 SALESCALING_BASE_URL=http://127.0.0.1:8080/api/v1/ SALESCALING_API_KEY=sk_test_simulator)
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from salescaling_async import AsyncSalescaling
from salescaling_async.integrations.fastapi import get_salescaling, salescaling_lifespan, webhook_router
from salescaling_async.models import WebhookEvent

events: list[dict[str, object]] = []


async def on_event(event: WebhookEvent) -> None:
    events.append({"type": type(event).__name__, "repr": repr(event)})


app = FastAPI(lifespan=salescaling_lifespan())
app.include_router(webhook_router(on_event, secret=os.environ.get("WEBHOOK_SECRET", "change-me-to-a-long-secret")))


@app.get("/contacts")
async def first_contacts(
    client: Annotated[AsyncSalescaling, Depends(get_salescaling)], limit: int = 5
) -> list[str | None]:
    page = await client.contacts.list(page_size=limit).first_page()
    return [c.email for c in page.items]


@app.get("/events")
async def received_events() -> list[dict[str, object]]:
    return events
