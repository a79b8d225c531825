"""The base of every resource: turns endpoint constants into typed calls. Strictly private.

One resource class serves four ways of calling it, told apart by its first type parameter
(the *mode*), which type checkers read and which the instance records at run time:

========================  =================================  ================================
mode                      ``get(...)`` returns               ``list(...)`` returns
========================  =================================  ================================
``AsyncMode``             ``Awaitable[T]``                   ``AsyncPaginator[T]``
``Raw[AsyncMode]``        ``Awaitable[APIResponse[T]]``      ``Awaitable[APIResponse[Page[T]]]``
``BlockingMode``          ``T``                              ``SyncPaginator[T]``
``Raw[BlockingMode]``     ``APIResponse[T]``                 ``APIResponse[Page[T]]``
========================  =================================  ================================

The methods are written once, as coroutines, and decorated with :func:`operation` or
:func:`listing` (``_operations``), whose typed ``__get__`` does the translation.  The second
type parameter names the resource's raw view (``Contacts[Raw[M]]``): Python's type system
cannot rewrite a class's type argument by itself, so each resource states it once, in its
class header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, final

from .._convert import Envelope, structure, structure_list, to_wire_body
from .._endpoints import Endpoint
from .._errors import ConfigError
from .._pagination import AsyncPaginator, Page, make_page
from .._request import FilePart, RawResponse, encode_params
from .._types import Params, Priority

if TYPE_CHECKING:
    from ._blocking import Runner

T = TypeVar("T")
M = TypeVar("M")
RawT = TypeVar("RawT")

OnResponse = Callable[[RawResponse, float], None]
"""Called with the final response of a call and the seconds the call took (clock time)."""


@final
class AsyncMode:
    """Strictly private marker: the resource's methods are coroutines."""


@final
class BlockingMode:
    """Strictly private marker: the resource's methods block (run on the client's portal)."""


@final
class Raw(Generic[M]):
    """Strictly private marker: the methods of mode ``M`` answer with an :class:`APIResponse`."""


class Requester(Protocol):
    """Strictly private. What resources need from a client: call one endpoint, get its envelope.

    Implemented by the client's pipeline; resources never import the session.  ``on_response``
    receives the final HTTP response (the raw-response views use it).  ``query`` is the query
    already encoded (:func:`encode_params`), sent instead of ``params``: a listing encodes its
    filters once and adds each page's number.
    """

    async def call(
        self,
        endpoint: Endpoint[Any],
        *,
        path: Mapping[str, str] | None = None,
        params: Params | None = None,
        query: list[tuple[str, str]] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        files: tuple[FilePart, ...] = (),
        priority: Priority | None = None,
        on_response: OnResponse | None = None,
    ) -> Envelope: ...


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


class Resource(Generic[M, RawT]):
    """Strictly private. A group of endpoints bound to one client, in one mode.

    Args:
        client: The requester every call goes through.
        runner: The blocking client's runner (blocking modes), or ``None`` (async modes).
        raw: Whether the methods answer with an :class:`APIResponse`.
    """

    def __init__(self, client: Requester, runner: Runner | None = None, *, raw: bool = False) -> None:
        self._client = client
        self._runner = runner
        self._raw = raw

    @cached_property
    def with_raw_response(self) -> RawT:
        """The same methods, each answering with an :class:`APIResponse` (status, headers,
        request id, elapsed time, and ``parse()`` for the typed result).

        ``list(...)`` answers with the raw response of its first page.

        .. versionadded:: 0.2.0
        """
        return cast(RawT, type(self)(self._client, self._runner, raw=True))

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

        filtered = encode_params(params)  # once per listing (and checked before anything is sent)

        async def fetch(page: int, limit: int) -> Page[T]:
            query = [*filtered, ("page", str(page)), ("limit", str(limit))]
            envelope = await self._client.call(endpoint, query=query, priority=priority)
            items = structure_list(envelope.data, endpoint.model)
            headers = envelope.headers
            return make_page(items, page, limit, envelope.count, len(items), headers, headers.get("x-request-id"))

        return AsyncPaginator(fetch, limit=page_size, start_page=start_page, prefetch=prefetch)

    async def _get(self, endpoint: Endpoint[T], id: str) -> T:
        envelope = await self._client.call(endpoint, path={"id": id})
        return structure(envelope.data, endpoint.model)

    async def _create(self, endpoint: Endpoint[T], body: Any) -> T:
        payload = to_wire_body(body, endpoint.model)
        envelope = await self._client.call(endpoint, json=payload)
        return structure(envelope.data, endpoint.model)
