"""Outgoing webhooks: verify a delivery and parse it into a typed event.

Salescaling signs nothing (reference.md §2.8); the one mechanism it offers is custom
headers on each webhook.  Configure a long random secret in a custom header (default
``X-Webhook-Secret``) and let :class:`WebhookVerifier` compare it in constant time.

Deliveries carry no event-type field: the type is the one chosen for the webhook.  Pass
``event_type=`` per receiving route, or let :func:`parse_event` infer it from the payload's
shape.  Unknown events become :class:`GenericWebhookEvent`, never an error.

Ready-made receivers: ``salescaling_async.integrations.aiohttp.webhook_routes`` and
``salescaling_async.integrations.fastapi.webhook_router``.  Both check the secret header
before reading any of the body, stream the body up to ``max_body`` (413 past it), answer 400
for anything that cannot be parsed and never 500 for what a sender controls.  Salescaling
does not sign or date deliveries, so a captured delivery could be replayed: pass a
:class:`ReplayGuard` (extra ``salescaling-async[webhooks]``) to acknowledge a body seen in the
last minutes without delivering it twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._clock import LoopClock
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
        name = self.header.lower()
        given = next((v for k, v in headers.items() if k.lower() == name), "")
        try:
            # Servers decode raw header bytes leniently (aiohttp keeps invalid UTF-8 as
            # surrogates): such a value cannot be the secret, so it is a 401, never a 500.
            given_bytes = given.encode("utf-8")
        except UnicodeEncodeError:
            given_bytes = b""
        if not given_bytes or not hmac.compare_digest(given_bytes, self.secret.encode()):
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
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
        raise WebhookError("body is not JSON", 400) from None
    if not isinstance(payload, dict):
        raise WebhookError("body is not a JSON object", 400)
    kind = event_type or infer_event_type(payload)
    model = EVENT_TYPES.get(kind or "")
    if model is None:
        return GenericWebhookEvent(event_type=kind, payload=payload)
    try:
        event: WebhookEvent = structure(payload, model)
    except (ResponseValidationError, RecursionError):
        return GenericWebhookEvent(event_type=kind, payload=payload)
    return event


def receive(
    body: bytes, headers: Mapping[str, str], verifier: WebhookVerifier, *, event_type: str | None = None
) -> WebhookEvent:
    """Verify (size, then secret) and parse one delivery; the receivers' shared core."""
    verifier.check_size(len(body))
    verifier.verify(headers)
    return parse_event(body, event_type=event_type)


class ReplayGuard:
    """Remembers the bodies delivered in the last ``window`` seconds, by SHA-256 hash.

    A receiver asks :meth:`seen` before delivering: a body seen within the window is
    acknowledged without reaching the callback again.  Memory is bounded by ``maxsize``
    hashes (the oldest go first).  Two genuinely identical deliveries within the window
    (the same status change sent twice) are delivered once: Salescaling's payloads carry
    no delivery id that would tell them apart.

    Args:
        window: Seconds a body is remembered.
        maxsize: Most bodies remembered at once.
        clock: Seconds for the window (default: the running event loop's time).

    Raises:
        ConfigError: ``cachetools`` is not installed (``pip install salescaling-async[webhooks]``).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self, *, window: float = 300.0, maxsize: int = 10_000, clock: Callable[[], float] | None = None
    ) -> None:
        try:
            from cachetools import TTLCache
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError("ReplayGuard needs cachetools: pip install 'salescaling-async[webhooks]'") from None
        if not (window > 0 and maxsize >= 1):
            raise ConfigError("ReplayGuard needs window > 0 and maxsize >= 1")
        self._seen: TTLCache[bytes, bool] = TTLCache(maxsize, window, timer=clock or LoopClock().now)

    def seen(self, body: bytes) -> bool:
        """Whether ``body`` was delivered within the window; if not, remember it now."""
        digest = hashlib.sha256(body).digest()
        if digest in self._seen:
            return True
        self._seen[digest] = True
        return False

    def forget(self, body: bytes) -> None:
        """Forget ``body`` (its delivery failed, so the sender's retry must go through)."""
        self._seen.pop(hashlib.sha256(body).digest(), None)

    def __len__(self) -> int:
        return len(self._seen)


__all__ = ["ReplayGuard", "WebhookError", "WebhookVerifier", "infer_event_type", "parse_event", "receive"]
