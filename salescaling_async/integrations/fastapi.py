"""FastAPI integration (extra ``salescaling-async[fastapi]``).

    app = FastAPI()
    install(app)                                        # client, error answers, web defaults
    @app.get("/contacts")
    async def contacts(client: AsyncSalescaling = Depends(get_salescaling)): ...
    app.include_router(webhook_router(on_event, secret=...))

:func:`install` opens one shared client for the app's lifetime (inside any lifespan the app
already has), turns SDK errors into small JSON answers (503/429 with ``Retry-After``, 502,
504, 404) logged in one line, and cancels a handler whose HTTP client disconnected, so its
SDK call leaves the queue instead of spending the key's budget on an answer nobody reads.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ConfigError, SalescalingError
from .._session import AsyncSalescaling
from .._types import Priority
from ..webhooks import ReplayGuard, WebhookError, WebhookVerifier, parse_event
from ._answers import WEB_DEADLINE, WEB_DRAIN, error_answer, log_line, web_defaults
from ._common import EventCallback, deliver_once

log = logging.getLogger("salescaling_async.web")

_STATE = "salescaling"
_MISSING = (
    "no Salescaling client for this app: call salescaling_async.integrations.fastapi.install(app) on the"
    " application the server runs (a mounted sub-app has no lifespan of its own), and use TestClient as a"
    " context manager (`with TestClient(app) as client:`) so the lifespan runs"
)


def salescaling_lifespan(
    *, drain_timeout: float = WEB_DRAIN, **client_kwargs: Any
) -> Callable[[FastAPI], AbstractAsyncContextManager[Mapping[str, Any]]]:
    """A FastAPI ``lifespan`` opening one shared :class:`AsyncSalescaling`.

    The client is ``app.state.salescaling`` and, for every request (mounted sub-apps
    included), the lifespan state read by :func:`get_salescaling`.  At shutdown the client
    drains for up to ``drain_timeout`` seconds, then closes.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Yields lifespan state and drains at shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        client = AsyncSalescaling(**client_kwargs)
        async with client:
            app.state.salescaling = client
            try:
                yield {_STATE: client.with_options(priority=Priority.INTERACTIVE)}
            finally:
                if not await client.drain(drain_timeout):
                    log.warning("salescaling client closed with calls still in progress after %ss", drain_timeout)

    return lifespan


def install(
    app: FastAPI,
    *,
    deadline: float = WEB_DEADLINE,
    drain_timeout: float = WEB_DRAIN,
    cancel_on_disconnect: bool = True,
    **client_kwargs: Any,
) -> None:
    """Give ``app`` a shared client, SDK errors as HTTP answers and load-shedding defaults.

    Composes with a lifespan the app already has: the client opens before it and closes
    after it, so the app's own startup code can use the client.

    Args:
        app: The FastAPI application the server runs.
        deadline: Seconds a handler's SDK call may queue for rate budget and retry, unless
            ``retry=`` or ``SALESCALING_DEADLINE`` says otherwise.  A call that cannot be
            granted in time is refused at once (503 with ``Retry-After``).
        drain_timeout: Seconds calls in progress may take to finish at shutdown.
        cancel_on_disconnect: Cancel a handler whose HTTP client went away, so its SDK call
            leaves the queue (its slot returns when nothing was sent).
        **client_kwargs: Passed to :class:`AsyncSalescaling` (``breaker=None`` turns the web
            default circuit breaker off).

    .. versionadded:: 0.2.0
    """
    own = salescaling_lifespan(drain_timeout=drain_timeout, **web_defaults(client_kwargs, deadline=deadline))
    existing = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(the_app: Any) -> AsyncIterator[Mapping[str, Any]]:
        async with own(the_app) as ours, existing(the_app) as theirs:
            yield {**(theirs or {}), **ours}

    app.router.lifespan_context = lifespan
    add_error_handlers(app)
    if cancel_on_disconnect:
        app.add_middleware(CancelOnDisconnect)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`SalescalingError` a handler raises as a small JSON error.

    :func:`install` calls it; call it yourself on mounted sub-apps (their errors do not reach
    the parent's handlers).

    .. versionadded:: 0.2.0
    """
    app.add_exception_handler(SalescalingError, _error_handler)


async def _error_handler(request: Request, exc: Exception) -> Response:
    answer = error_answer(exc)
    level = logging.ERROR if answer.status == 500 else logging.WARNING
    log.log(level, "%s", log_line(exc, answer, request.method, request.url.path))
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


async def get_salescaling(request: Request) -> AsyncSalescaling:
    """Dependency handing routes the shared client, with interactive priority.

    Raises:
        ConfigError: No client: :func:`install` (or :func:`salescaling_lifespan`) did not run.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``async def`` (no thread-pool hop) and works in mounted sub-apps.
    """
    client = getattr(request.state, _STATE, None)
    if isinstance(client, AsyncSalescaling):
        return client
    client = getattr(request.app.state, _STATE, None)
    if isinstance(client, AsyncSalescaling):
        return client.with_options(priority=Priority.INTERACTIVE)
    raise ConfigError(_MISSING)


class CancelOnDisconnect:
    """ASGI middleware cancelling a request's handler when its HTTP client disconnects.

    Servers keep running a handler after its client left; a handler queued for rate budget
    then spends a slot on an answer nobody reads.  This middleware is the only reader of the
    server's ``receive``: it forwards the body to the app, and on ``http.disconnect`` before
    the response is complete it cancels the handler (a queued SDK call gives its slot back).
    Background tasks after a complete response are never cancelled.

    .. versionadded:: 0.2.0
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)  # backpressure on the body
        done = gone = False

        async def send_tracked(message: Message) -> None:
            nonlocal done
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done = True

        async def receive_forwarded() -> Message:
            if gone and inbox.empty():  # like the server: once gone, always gone
                return {"type": "http.disconnect"}
            return await inbox.get()

        handler = asyncio.ensure_future(self.app(scope, receive_forwarded, send_tracked))

        async def watch() -> None:
            nonlocal gone
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    if not done:
                        handler.cancel()
                    if inbox.full():  # a body chunk nobody will read: the client left
                        inbox.get_nowait()
                    inbox.put_nowait(message)
                    return
                await inbox.put(message)

        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait({handler})  # unlike `await handler`, our cancellation is ours alone
        except asyncio.CancelledError:
            handler.cancel()
            raise
        finally:
            watcher.cancel()
        if handler.cancelled():
            return  # the client is gone: nobody to answer
        handler.result()


def webhook_router(
    callback: EventCallback,
    *,
    secret: str,
    path: str = "/webhooks/salescaling",
    header: str = "X-Webhook-Secret",
    event_type: str | None = None,
    max_body: int = 1024 * 1024,
    replay_guard: ReplayGuard | None = None,
) -> APIRouter:
    """A router receiving Salescaling webhooks.

    The secret header is checked before any of the body is read (401); the body is streamed
    up to ``max_body`` (413 past it, chunked or not); a body that cannot be parsed is 400;
    a delivery the ``replay_guard`` saw recently is acknowledged (204) but not delivered again.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Secret checked first; ``replay_guard``.
    """
    verifier = WebhookVerifier(secret, header, max_body)
    router = APIRouter()

    @router.post(path, status_code=204)
    async def receive_webhook(request: Request) -> Response:
        try:
            verifier.verify(request.headers)
            verifier.check_size(_content_length(request.headers.get("content-length")))
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                verifier.check_size(len(body))
            event = parse_event(bytes(body), event_type=event_type)
        except WebhookError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        await deliver_once(callback, event, bytes(body), replay_guard)
        return Response(status_code=204)

    return router


def _content_length(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None
