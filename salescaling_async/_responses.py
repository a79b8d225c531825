"""From a response to the unwrapped envelope, or to the typed error. Strictly private."""

from __future__ import annotations

from typing import Any

from ._convert import Envelope, unwrap_envelope
from ._decode import decode_json
from ._endpoints import Endpoint
from ._error_building import Limited, redact_response, redact_validation_error, status_error
from ._errors import ResponseValidationError
from ._request import RawResponse
from ._types import JSON


def parse_response(
    response: RawResponse,
    endpoint: Endpoint[Any],
    *,
    wall_now: float,
    secret: str | None = None,
    limited: Limited | None = None,
) -> Envelope:
    """The envelope of a 2xx response; raise the typed error of any other.

    A 204 or an empty body gives an envelope without data; a 2xx body that cannot be decoded
    (:func:`decode_json`: not UTF-8, blank, not JSON, too deep) raises
    :class:`ResponseValidationError`.

    Args:
        response: The final response (redirects already followed).
        endpoint: The operation called.
        wall_now: Wall-clock seconds, for HTTP-date ``Retry-After`` values of errors.
        secret: The API key: redacted from every error built from the response.
        limited: A 429's hints and pause, as the pipeline handled it (not parsed again).
    """
    try:
        status = response.status
        if status >= 400:
            response = redact_response(response, secret)
        payload: JSON = decode_json(response.body, status=status)
        if status >= 400:
            raise status_error(response, endpoint, payload, wall_now=wall_now, limited=limited)
        headers = response.header_map
        if status == 204 or payload is None:
            return Envelope(status_code=status, count=None, error=None, data=None, headers=headers)
        # The body as text only goes on an error: decoded only when the envelope does not fit.
        fits = isinstance(payload, dict) and "data" in payload
        text = "" if fits else response.body[:65536].decode("utf-8", errors="replace")
        return unwrap_envelope(payload, raw=text, status=status, headers=headers)
    except ResponseValidationError as error:
        redact_validation_error(error, secret)
        raise
