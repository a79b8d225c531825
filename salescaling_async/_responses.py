"""From a response to the unwrapped envelope, or to the typed error. Strictly private."""

from __future__ import annotations

import json
from typing import Any

from ._convert import Envelope, unwrap_envelope
from ._endpoints import Endpoint
from ._error_building import status_error
from ._errors import ResponseValidationError
from ._request import RawResponse
from ._types import JSON


def parse_response(response: RawResponse, endpoint: Endpoint[Any], *, wall_now: float) -> Envelope:
    """The envelope of a 2xx response; raise the typed error of any other.

    A 204 or an empty body gives an envelope without data; a 2xx body that is not JSON
    raises :class:`ResponseValidationError`.

    Args:
        response: The final response (redirects already followed).
        endpoint: The operation called.
        wall_now: Wall-clock seconds, for HTTP-date ``Retry-After`` values of errors.
    """
    text = response.body.decode("utf-8", errors="replace")
    payload: JSON = None
    is_json = True
    if text.strip():
        try:
            payload = json.loads(text)
        except ValueError:
            is_json = False
    if response.status >= 400:
        raise status_error(response, endpoint, payload if is_json else text, wall_now=wall_now)
    if not is_json:
        raise ResponseValidationError("response is not JSON", raw=text, status_code=response.status)
    headers = response.header_map
    if response.status == 204 or payload is None:
        return Envelope(status_code=response.status, count=None, error=None, data=None, headers=headers)
    return unwrap_envelope(payload, raw=text, status=response.status, headers=headers)
