"""What both framework integrations share. Strictly private."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Union

from ..models.webhooks import WebhookEvent
from ..webhooks import ReplayGuard

EventCallback = Callable[[WebhookEvent], Union[Awaitable[None], None]]


async def deliver(callback: EventCallback, event: WebhookEvent) -> None:
    """Call a sync or async user callback."""
    result: Any = callback(event)
    if inspect.isawaitable(result):
        await result


async def deliver_once(callback: EventCallback, event: WebhookEvent, body: bytes, guard: ReplayGuard | None) -> None:
    """Deliver unless ``guard`` saw ``body`` recently; a failed delivery is forgotten (so the
    sender's retry goes through)."""
    if guard is not None and guard.seen(body):
        return
    try:
        await deliver(callback, event)
    except BaseException:
        if guard is not None:
            guard.forget(body)
        raise
