"""What both framework integrations share. Strictly private."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Union

from ..models.webhooks import WebhookEvent

EventCallback = Callable[[WebhookEvent], Union[Awaitable[None], None]]


async def deliver(callback: EventCallback, event: WebhookEvent) -> None:
    """Call a sync or async user callback."""
    result: Any = callback(event)
    if inspect.isawaitable(result):
        await result
