"""Raw responses: :class:`APIResponse` and the requester that captures one. Strictly private
module; ``APIResponse`` is public through the package root.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Generic, TypeVar

import attrs

from .._convert import Envelope
from .._endpoints import Endpoint
from .._errors import ResponseValidationError
from .._request import RawResponse
from ._base import Requester

T = TypeVar("T")


@attrs.frozen
class APIResponse(Generic[T]):
    """The HTTP response of one call, with its typed result.

    Returned by ``client.<resource>.with_raw_response.<method>(...)`` on both clients.

    Attributes:
        status_code: The HTTP status of the final response (redirects followed).
        headers: Every response header, names in lower case.
        elapsed: How long the call took on the client's clock, throttle waits, retries and
            redirects included.
        url: The URL of the final response (without the query).
        from_cache: Whether the response cache answered (nothing was sent): then
            ``headers`` are those stored with the entry, without the rate-limit headers
            (stale by then), ``request_id`` is the original response's, and ``elapsed`` the
            lookup's time.

    .. versionadded:: 0.2.0
    """

    status_code: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: timedelta
    url: str
    _result: Any = attrs.field(repr=False, alias="result")
    _error: ResponseValidationError | None = attrs.field(default=None, repr=False, alias="error")
    from_cache: bool = attrs.field(default=False, kw_only=True)

    @property
    def request_id(self) -> str | None:
        """The server's ``x-request-id`` header, when it sent one."""
        return self.headers.get("x-request-id")

    def parse(self) -> T:
        """The typed result the plain method returns.

        Raises:
            ResponseValidationError: The response did not fit the model (the status and
                headers above are still readable).
        """
        if self._error is not None:
            raise self._error
        result: T = self._result
        return result


class Capture:
    """Strictly private. A requester that passes every call on and keeps the last response.

    One is made per raw call, so concurrent calls never share one.
    """

    def __init__(self, inner: Requester) -> None:
        self._inner = inner
        self.response: RawResponse | None = None
        self.envelope: Envelope | None = None
        self.elapsed = 0.0

    async def call(self, endpoint: Endpoint[Any], **options: Any) -> Envelope:
        """The inner requester's ``call`` (see ``Requester``), its final response kept."""
        self.envelope = await self._inner.call(endpoint, **{**options, "on_response": self._record})
        return self.envelope

    def _record(self, response: RawResponse, elapsed: float) -> None:
        self.response = response
        self.elapsed = elapsed

    @property
    def answered(self) -> bool:
        """Whether a call got an answer (then a parsing failure belongs to ``parse()``)."""
        return self.envelope is not None

    def answer(self, result: Any = None, error: ResponseValidationError | None = None) -> APIResponse[Any]:
        """The :class:`APIResponse` of the captured response.

        A requester that answered without an HTTP response (a cache, a test double) gives the
        envelope's status and headers instead.
        """
        response, envelope = self.response, self.envelope
        headers: Mapping[str, str]
        if response is not None:
            status, headers, url = response.status, response.header_map, response.url
        else:
            status = envelope.status_code if envelope is not None and envelope.status_code else 200
            headers, url = (envelope.headers if envelope is not None else {}), ""
        return APIResponse(
            status_code=status,
            headers=headers,
            elapsed=timedelta(seconds=self.elapsed),
            url=url,
            result=result,
            error=error,
            from_cache=envelope is not None and envelope.from_cache,
        )
