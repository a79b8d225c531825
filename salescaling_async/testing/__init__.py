"""Testing helpers: the API simulator, a fake clock and a fake transport.

Public namespace.  ``Simulator`` is a real aiohttp server that behaves like the Salescaling
API, rate limits included; the pytest plugin (``salescaling_async.testing.pytest_plugin``,
registered automatically) gives fixtures built on it.

The typed seams for your own fakes are public here too: a :class:`Transport` (``send(request:
RawRequest) -> RawResponse`` and ``aclose()``) replaces the network when passed as
``AsyncSalescaling(transport=...)``, and a :class:`Clock` (``now()`` and ``call_at()``)
replaces time when passed as ``clock=``.  :class:`FakeTransport` and :class:`FakeClock` are
the ready-made implementations.

.. versionadded:: 0.1.0
"""

from .._clock import Clock as Clock
from .._request import RawRequest as RawRequest
from .._request import RawResponse as RawResponse
from .._transport import Transport as Transport
from ._fakes import FakeClock as FakeClock
from ._fakes import FakeTransport as FakeTransport
from ._fakes import json_response as json_response
from ._fakes import no_retries as no_retries
from ._fakes import text_response as text_response
from ._simulator import DEFAULT_KEY as DEFAULT_KEY
from ._simulator import Fault as Fault
from ._simulator import KeyStats as KeyStats
from ._simulator import SimKey as SimKey
from ._simulator import Simulator as Simulator
from ._threaded import simulator_in_thread as simulator_in_thread

__all__ = [
    "Clock",
    "DEFAULT_KEY",
    "FakeClock",
    "FakeTransport",
    "Fault",
    "KeyStats",
    "RawRequest",
    "RawResponse",
    "SimKey",
    "Simulator",
    "Transport",
    "json_response",
    "no_retries",
    "simulator_in_thread",
    "text_response",
]
