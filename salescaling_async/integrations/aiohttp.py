"""aiohttp.web integration: one shared client per app, SDK errors as answers, webhooks.

    app = web.Application()
    setup(app)                                          # client, error answers, web defaults
    async def handler(request):
        client = get_client(request)                    # interactive priority
    app.add_routes(webhook_routes(on_event, secret=...))
    web.run_app(app, handler_cancellation=True)         # cancel handlers of gone clients

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from .._errors import ConfigError, SalescalingError
from .._session import AsyncSalescaling
from .._types import Priority
from ..webhooks import ReplayGuard, WebhookError, WebhookVerifier, parse_event
from ._answers import WEB_DEADLINE, WEB_DRAIN, error_answer, log_line, web_defaults
from ._common import EventCallback, deliver_once

log = logging.getLogger("salescaling_async.web")

CLIENT_KEY: web.AppKey[AsyncSalescaling] = web.AppKey("salescaling_client", AsyncSalescaling)
_VIEW_KEY: web.AppKey[AsyncSalescaling] = web.AppKey("salescaling_view", AsyncSalescaling)
_MISSING = (
    "no Salescaling client for this app: call salescaling_async.integrations.aiohttp.setup(app) on the"
    " application (or add salescaling_ctx() to its cleanup_ctx); sub-apps find their parent's client"
)


def salescaling_ctx(
    *, drain_timeout: float = WEB_DRAIN, **client_kwargs: Any
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry opening one :class:`AsyncSalescaling` for the app's lifetime.

    At shutdown (after the server stopped taking requests and waited for its handlers) the
    client drains for up to ``drain_timeout`` seconds, then closes.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Drains at shutdown.
    """

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = AsyncSalescaling(**client_kwargs)
        async with client:
            app[CLIENT_KEY] = client
            app[_VIEW_KEY] = client.with_options(priority=Priority.INTERACTIVE)
            try:
                yield
            finally:
                if not await client.drain(drain_timeout):
                    log.warning("salescaling client closed with calls still in progress after %ss", drain_timeout)

    return ctx


def setup(
    app: web.Application,
    *,
    deadline: float = WEB_DEADLINE,
    drain_timeout: float = WEB_DRAIN,
    **client_kwargs: Any,
) -> None:
    """Give ``app`` a shared client, SDK errors as HTTP answers and load-shedding defaults.

    Args:
        app: The application (sub-apps added with ``add_subapp`` find its client).
        deadline: Seconds a handler's SDK call may queue for rate budget and retry, unless
            ``retry=`` or ``SALESCALING_DEADLINE`` says otherwise.  A call that cannot be
            granted in time is refused at once (503 with ``Retry-After``).
        drain_timeout: Seconds calls in progress may take to finish at shutdown.
        **client_kwargs: Passed to :class:`AsyncSalescaling` (``breaker=None`` turns the web
            default circuit breaker off).

    Run the server with ``handler_cancellation=True`` (``web.run_app`` / ``AppRunner``) so a
    handler whose client disconnected is cancelled and its queued SDK call gives its slot back.

    .. versionadded:: 0.2.0
    """
    app.cleanup_ctx.append(
        salescaling_ctx(drain_timeout=drain_timeout, **web_defaults(client_kwargs, deadline=deadline))
    )
    app.middlewares.append(error_middleware)


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Answer every :class:`SalescalingError` a handler raises as a small JSON error, logged
    in one line.  :func:`setup` installs it.

    .. versionadded:: 0.2.0
    """
    try:
        response: web.StreamResponse = await handler(request)
    except SalescalingError as exc:
        answer = error_answer(exc)
        level = logging.ERROR if answer.status == 500 else logging.WARNING
        log.log(level, "%s", log_line(exc, answer, request.method, request.path))
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
    return response


def get_client(request: web.Request) -> AsyncSalescaling:
    """The app's shared client, with interactive priority for request handlers.

    Raises:
        ConfigError: No client: :func:`setup` (or :func:`salescaling_ctx`) is missing.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Reads ``request.config_dict``, so sub-apps work.
    """
    view = request.config_dict.get(_VIEW_KEY)
    if view is None:
        raise ConfigError(_MISSING)
    return view


def webhook_routes(
    callback: EventCallback,
    *,
    secret: str,
    path: str = "/webhooks/salescaling",
    header: str = "X-Webhook-Secret",
    event_type: str | None = None,
    max_body: int = 1024 * 1024,
    replay_guard: ReplayGuard | None = None,
) -> web.RouteTableDef:
    """Routes receiving Salescaling webhooks: verify, read, parse, call ``callback``, answer 204.

    The secret header is checked before any of the body is read (401, also for a value that
    is not valid UTF-8); the whole body is streamed up to ``max_body`` (413 past it, chunked
    or not); a body that cannot be parsed is 400; a delivery the ``replay_guard`` saw
    recently is acknowledged (204) without reaching ``callback`` again.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Streams the whole body; secret first; ``replay_guard``.
    """
    verifier = WebhookVerifier(secret, header, max_body)
    routes = web.RouteTableDef()

    @routes.post(path)
    async def receive_webhook(request: web.Request) -> web.Response:
        try:
            verifier.verify(request.headers)
            body = await _read_body(request, verifier)
            event = parse_event(body, event_type=event_type)
        except WebhookError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        await deliver_once(callback, event, body, replay_guard)
        return web.Response(status=204)

    return routes


async def _read_body(request: web.Request, verifier: WebhookVerifier) -> bytes:
    """The whole body, refused (413) as soon as it passes ``max_body``: nothing more is read."""
    verifier.check_size(request.content_length)
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        verifier.check_size(len(body))
    return bytes(body)
