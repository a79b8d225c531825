"""Outgoing webhooks: verify a delivery and parse it into a typed event.

Salescaling signs nothing (reference.md §2.8); the one mechanism it offers is custom
headers on each webhook.  Configure a long random secret in a custom header (default
``X-Webhook-Secret``) and let :class:`WebhookVerifier` compare it in constant time.

Deliveries carry no event-type field: the type is the one chosen for the webhook.  Pass
``event_type=`` per receiving route, or let :func:`parse_event` infer it from the payload's
shape.  Unknown events become :class:`GenericWebhookEvent`, never an error.

Ready-made receivers: ``salescaling_async.integrations.aiohttp.webhook_routes`` and
``salescaling_async.integrations.fastapi.webhook_router``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any

import attrs

from ._convert import structure
from ._errors import ConfigError, ResponseValidationError, SalescalingError
from .models.webhooks import (
    CommercialSignalDetected,
    GenericWebhookEvent,
    MeetingNoteStatusChanged,
    MeetingStatusChanged,
    WebhookEvent,
)

EVENT_TYPES: dict[str, type[Any]] = {
    MeetingStatusChanged.EVENT_TYPE: MeetingStatusChanged,
    MeetingNoteStatusChanged.EVENT_TYPE: MeetingNoteStatusChanged,
    CommercialSignalDetected.EVENT_TYPE: CommercialSignalDetected,
}


class WebhookError(SalescalingError):
    """A delivery was refused; ``status`` is the HTTP answer to give (400, 401 or 413).

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@attrs.frozen
class WebhookVerifier:
    """Checks the shared-secret header of a delivery and the body size.

    Args:
        secret: The value configured as a custom header on the Salescaling webhook.
        header: The header's name (any letter case on the wire).
        max_body: Largest accepted body in bytes.

    .. versionadded:: 0.1.0
    """

    secret: str = attrs.field(repr=False)
    header: str = "X-Webhook-Secret"
    max_body: int = 1024 * 1024

    @secret.validator
    def _check(self, _attribute: object, value: str) -> None:
        if not isinstance(value, str) or len(value) < 16:
            raise ConfigError("use a webhook secret of at least 16 characters")

    def verify(self, headers: Mapping[str, str]) -> None:
        """Raise :class:`WebhookError` (401) unless the secret header matches."""
        lower = {k.lower(): v for k, v in headers.items()}
        given = lower.get(self.header.lower(), "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise WebhookError("missing or wrong webhook secret", 401)

    def check_size(self, length: int | None) -> None:
        """Raise :class:`WebhookError` (413) for bodies over ``max_body``."""
        if length is not None and length > self.max_body:
            raise WebhookError(f"body over {self.max_body} bytes", 413)


def infer_event_type(payload: Any) -> str | None:
    """The event type from an explicit field (``event``/``type``/``eventType``) or the shape."""
    if not isinstance(payload, Mapping):
        return None
    for key in ("event", "type", "eventType", "event_type"):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    if "meetingNoteId" in payload:
        return MeetingNoteStatusChanged.EVENT_TYPE
    if "meetingId" in payload and "status" in payload:
        return MeetingStatusChanged.EVENT_TYPE
    return None


def parse_event(body: bytes | str, *, event_type: str | None = None) -> WebhookEvent:
    """Parse a delivery body into a typed event.

    Raises:
        WebhookError: 400 when the body is not a JSON object.
    """
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookError("body is not JSON", 400) from None
    if not isinstance(payload, dict):
        raise WebhookError("body is not a JSON object", 400)
    kind = event_type or infer_event_type(payload)
    model = EVENT_TYPES.get(kind or "")
    if model is None:
        return GenericWebhookEvent(event_type=kind, payload=payload)
    try:
        event: WebhookEvent = structure(payload, model)
    except ResponseValidationError:
        return GenericWebhookEvent(event_type=kind, payload=payload)
    return event


def receive(
    body: bytes, headers: Mapping[str, str], verifier: WebhookVerifier, *, event_type: str | None = None
) -> WebhookEvent:
    """Verify (size, then secret) and parse one delivery; the receivers' shared core."""
    verifier.check_size(len(body))
    verifier.verify(headers)
    return parse_event(body, event_type=event_type)


__all__ = ["WebhookError", "WebhookVerifier", "infer_event_type", "parse_event", "receive"]
