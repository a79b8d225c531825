"""The one mechanism behind every resource method in every mode. Strictly private.

A resource method is written once, as a coroutine (``@operation``) or as a function returning
an :class:`AsyncPaginator` (``@listing``).  The decorator is a descriptor: looked up on a
resource, it gives the callable of that resource's mode (see the table in ``_base``), and the
overloads of ``__get__`` say so to type checkers.  The callable is bound on every lookup and
never stored on the resource: a stored bound method refers back to its resource, a reference
cycle that would keep every dropped view (a ``with_key()`` view made per request, its key's
headers included) alive until the garbage collector's next pass.

A raw call runs the very same method on a fresh resource whose requester is a
:class:`Capture`: the method's own parsing gives ``parse()``'s result, the capture the HTTP
response.  A result that fails to parse is kept for ``parse()`` to raise, so the status and
headers of a surprising response stay readable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from .._bulk import BulkRun
from .._bulk_sync import SyncBulkRun
from .._errors import ResponseValidationError
from .._pagination import AsyncPaginator, Page
from ._base import AsyncMode, BlockingMode, Raw, Resource
from ._blocking import SyncPaginator
from ._raw import APIResponse, Capture

P = ParamSpec("P")
T = TypeVar("T")
D = TypeVar("D")
I = TypeVar("I")  # noqa: E741 - a bulk run's item type
R = TypeVar("R")

AnyResource = Resource[Any, Any]


class operation(Generic[P, T]):
    """Strictly private. Decorates a coroutine method of a resource (one request)."""

    def __init__(self, fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn  # documentation tools show the method's own signature

    @overload
    def __get__(self: D, obj: None, owner: type[Any] | None = None) -> D: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncMode, Any], owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(
        self, obj: Resource[Raw[AsyncMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, APIResponse[T]]]: ...
    @overload
    def __get__(self, obj: Resource[BlockingMode, Any], owner: type[Any] | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: Resource[Raw[BlockingMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, APIResponse[T]]: ...
    def __get__(self, obj: AnyResource | None, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        fn, runner = self._fn, obj._runner
        bound: Any
        if not obj._raw:
            bound = MethodType(fn, obj) if runner is None else functools.partial(runner.run, fn, obj)
        else:
            bound = functools.partial(_raw_call, fn, obj)
            if runner is not None:
                bound = functools.partial(runner.run, _raw_call, fn, obj)
        return bound


class listing(Generic[P, T]):
    """Strictly private. Decorates a resource method returning an :class:`AsyncPaginator`."""

    def __init__(self, fn: Callable[Concatenate[Any, P], AsyncPaginator[T]]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn  # documentation tools show the method's own signature

    @overload
    def __get__(self: D, obj: None, owner: type[Any] | None = None) -> D: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncMode, Any], owner: type[Any] | None = None
    ) -> Callable[P, AsyncPaginator[T]]: ...
    @overload
    def __get__(
        self, obj: Resource[Raw[AsyncMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, Coroutine[Any, Any, APIResponse[Page[T]]]]: ...
    @overload
    def __get__(
        self, obj: Resource[BlockingMode, Any], owner: type[Any] | None = None
    ) -> Callable[P, SyncPaginator[T]]: ...
    @overload
    def __get__(
        self, obj: Resource[Raw[BlockingMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, APIResponse[Page[T]]]: ...
    def __get__(self, obj: AnyResource | None, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        fn, runner = self._fn, obj._runner
        bound: Any
        if obj._raw:
            bound = functools.partial(_raw_first_page, fn, obj)
            if runner is not None:
                bound = functools.partial(runner.run, _raw_first_page, fn, obj)
        elif runner is None:
            bound = MethodType(fn, obj)
        else:
            bound = functools.partial(_blocking_list, runner, fn, obj)
        return bound


class bulk(Generic[P, I, R]):
    """Strictly private. Decorates a resource method returning a :class:`BulkRun`.

    Blocking modes get a :class:`SyncBulkRun` (a plain iterator) whose steps run on the
    client's portal; the method itself always runs on an async-mode twin of the resource,
    where ``create`` and ``list`` are coroutines.  Raw modes are the same as their base mode.
    """

    def __init__(self, fn: Callable[Concatenate[Any, P], BulkRun[I, R]]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn  # documentation tools show the method's own signature

    @overload
    def __get__(self: D, obj: None, owner: type[Any] | None = None) -> D: ...
    @overload
    def __get__(
        self, obj: Resource[AsyncMode, Any] | Resource[Raw[AsyncMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, BulkRun[I, R]]: ...
    @overload
    def __get__(
        self, obj: Resource[BlockingMode, Any] | Resource[Raw[BlockingMode], Any], owner: type[Any] | None = None
    ) -> Callable[P, SyncBulkRun[I, R]]: ...
    def __get__(self, obj: AnyResource | None, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        twin = type(obj)(obj._client)  # async mode, not raw
        bound: Any = MethodType(self._fn, twin)
        if obj._runner is not None:
            bound = functools.partial(_blocking_bulk, obj._runner, bound)
        return bound


def _blocking_bulk(runner: Any, method: Callable[..., BulkRun[Any, Any]], /, *args: Any, **kwargs: Any) -> Any:
    return SyncBulkRun(runner.run, functools.partial(method, *args, **kwargs))


async def _raw_call(
    fn: Callable[..., Coroutine[Any, Any, Any]], obj: AnyResource, /, *args: Any, **kwargs: Any
) -> APIResponse[Any]:
    capture = Capture(obj._client)
    try:
        result = await fn(type(obj)(capture), *args, **kwargs)
    except ResponseValidationError as exc:
        if not capture.answered:  # no response to show: the call itself failed
            raise
        return capture.answer(error=exc)
    return capture.answer(result)


async def _raw_first_page(
    fn: Callable[..., AsyncPaginator[Any]], obj: AnyResource, /, *args: Any, **kwargs: Any
) -> APIResponse[Any]:
    capture = Capture(obj._client)
    paginator = fn(type(obj)(capture), *args, **kwargs)
    try:
        page = await paginator.first_page()
    except ResponseValidationError as exc:
        if not capture.answered:
            raise
        return capture.answer(error=exc)
    return capture.answer(page)


def _blocking_list(
    runner: Any, fn: Callable[..., AsyncPaginator[Any]], obj: AnyResource, /, *args: Any, **kwargs: Any
) -> SyncPaginator[Any]:
    make = functools.partial(fn, obj, *args, **kwargs)
    make()  # check the arguments now, in the caller's thread
    return SyncPaginator(runner, make)
