"""Apps served by real uvicorn processes in tests/test_web_servers.py (``--factory``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from salescaling_async import AsyncSalescaling
from salescaling_async.integrations.fastapi import add_error_handlers, get_salescaling, install


def _sub() -> FastAPI:
    sub = FastAPI()
    add_error_handlers(sub)

    @sub.get("/contacts")
    async def contacts(client: Annotated[AsyncSalescaling, Depends(get_salescaling)]) -> Any:
        page = await client.contacts.list(page_size=2).first_page()
        return [c.id for c in page.items]

    return sub


def mounted() -> FastAPI:
    """install() on the app uvicorn runs; the handler lives in a mounted sub-app."""
    app = FastAPI()
    install(app)
    app.mount("/sub", _sub())
    return app


def installed_on_sub_app_only() -> FastAPI:
    """The mistake: install() on a mounted sub-app, whose lifespan never runs."""
    app = FastAPI()
    sub = _sub()
    install(sub)
    app.mount("/sub", sub)
    return app
