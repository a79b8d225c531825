"""The base of every resource: turns endpoint constants into typed calls. Strictly private."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from .._convert import Envelope, structure, structure_list, to_wire_body
from .._endpoints import Endpoint
from .._errors import ConfigError
from .._pagination import AsyncPaginator, Page
from .._request import FilePart
from .._types import Params, Priority

T = TypeVar("T")


class Requester(Protocol):
    """Strictly private. What resources need from a client: call one endpoint, get its envelope.

    Implemented by the client's pipeline; resources never import the session.
    """

    async def call(
        self,
        endpoint: Endpoint[Any],
        *,
        path: Mapping[str, str] | None = None,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
    ) -> Envelope: ...


def check_id(value: str, what: str = "id") -> str:
    """Reject ids that would change the path (empty, not a string, or with ``/``)."""
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise ConfigError(f"{what} must be a non-empty string without '/', got {value!r}")
    return quote(value, safe="")


def filters(**values: Any) -> dict[str, Any]:
    """Query parameters from keyword filters, dropping the ones not given (``None``)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, (str, int, float, list)):
            out[name] = value
        else:
            raise ConfigError(f"filter {name!r} must be a string, number or bool, got {value!r}")
    return out


class Resource:
    """Strictly private. A group of endpoints bound to one client."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    def _list(
        self,
        endpoint: Endpoint[T],
        params: Params,
        *,
        page_size: int,
        start_page: int,
        prefetch: int,
        priority: Priority | None,
    ) -> AsyncPaginator[T]:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ConfigError(f"page_size must be an integer >= 1, got {page_size!r}")

        async def fetch(page: int, limit: int) -> Page[T]:
            envelope = await self._client.call(
                endpoint, params={**params, "page": page, "limit": limit}, priority=priority
            )
            items = structure_list(envelope.data, endpoint.model)
            return Page(items=items, number=page, limit=limit, count=envelope.count, raw_length=len(items))

        return AsyncPaginator(fetch, limit=page_size, start_page=start_page, prefetch=prefetch)

    async def _get(self, endpoint: Endpoint[T], id: str) -> T:
        envelope = await self._client.call(endpoint, path={"id": check_id(id)})
        return structure(envelope.data, endpoint.model)

    async def _create(self, endpoint: Endpoint[T], body: Any) -> T:
        payload = to_wire_body(body, endpoint.model)
        envelope = await self._client.call(endpoint, json=payload)
        return structure(envelope.data, endpoint.model)
