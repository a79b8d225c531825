"""OpenTelemetry traces and metrics for a client (extra ``salescaling-async[otel]``).

```python
from salescaling_async.integrations.otel import instrument

client = AsyncSalescaling()
instrument(client)           # the global tracer and meter providers, or pass your own
```

Built on the client's event hook: every `RequestAttempt` (one per HTTP attempt, retries and
redirect hops included) becomes one `CLIENT` span, started in the caller's context so it nests
under the caller's span, with the HTTP semantic-convention attributes and the SDK's own:

| attribute | value |
|---|---|
| `http.request.method` | `GET`, `POST`, ... |
| `url.template` | `/api/v1/contacts/{id}` (absent for `client.request`) |
| `url.full` | the URL without query |
| `server.address`, `server.port` | the API host |
| `http.response.status_code` | when a response arrived |
| `error.type` | the status code (>= 400) or the transport error's class name |
| `http.request.resend_count` | retries before this attempt (absent on the first) |
| `salescaling.retry_count` | the same, always present |
| `salescaling.key_id` | the key's hash, never the key |
| `salescaling.throttle_wait_s` | seconds the attempt queued for rate budget |

Metrics (meter `salescaling_async`): `salescaling.requests` (attempts),
`http.client.request.duration` (s), `salescaling.rate_limited` (429s),
`salescaling.throttle.wait` (s, one value per attempt) and the observable gauge
`salescaling.budget.remaining` (requests left per key and window).

The recorder remembers only keys still in use: a key whose budget is idle again (nothing
held, queued, in flight or paused; the scheduler forgets such keys too) is reported with its
full budget once more and then dropped, and at most ``max_keys`` keys are kept (least
recently used first out), so a multi-tenant service's memory and gauge series stay bounded.

Instrument a client before making views of it (`with_key`, `with_options`): views share the
hook they were made with.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._errors import ConfigError
from .._events import Event, RequestAttempt
from .._scheduler import KeyStatistics
from .._session import AsyncSalescaling, __version__

_SCOPE = "salescaling_async"


def instrument(
    client: AsyncSalescaling,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    max_keys: int = 1000,
) -> None:
    """Export a span per request attempt and the SDK's metrics through OpenTelemetry.

    Args:
        client: The client to instrument (every view of it, made before or after, is instrumented).
        tracer_provider: Default: the global one (``opentelemetry.trace``).
        meter_provider: Default: the global one (``opentelemetry.metrics``).
        max_keys: At most this many keys are remembered for the budget gauge (least
            recently used dropped first); idle keys are dropped anyway.
            (.. versionadded:: 0.2.0)

    Raises:
        ConfigError: ``client`` is already instrumented, or ``max_keys`` is not >= 1.

    .. versionadded:: 0.2.0
    """
    core = client._core
    if getattr(core, "otel_instrumented", False):
        raise ConfigError("this client is already instrumented")
    if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
        raise ConfigError(f"max_keys must be an integer >= 1, got {max_keys!r}")
    recorder = _Recorder(client, tracer_provider, meter_provider, max_keys=max_keys)
    previous = core.on_event

    def on_event(event: Event) -> None:
        if isinstance(event, RequestAttempt):
            recorder.record(event)
        if previous is not None:
            previous(event)

    core.on_event = on_event
    core.otel_instrumented = True  # type: ignore[attr-defined]


class _Recorder:
    """Strictly private. Turns attempt events into spans and metric points."""

    def __init__(
        self,
        client: AsyncSalescaling,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        *,
        max_keys: int = 1000,
    ) -> None:
        self.client = client
        self.max_keys = max_keys
        self.base_path = urlsplit(client.base_url).path
        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self.requests = meter.create_counter("salescaling.requests", "{request}", "HTTP attempts sent")
        self.duration = meter.create_histogram(
            "http.client.request.duration", "s", "Duration of HTTP client requests (one per attempt)"
        )
        self.rate_limited = meter.create_counter("salescaling.rate_limited", "{response}", "429 responses")
        self.throttle = meter.create_histogram(
            "salescaling.throttle.wait", "s", "Seconds each attempt queued for rate budget"
        )
        meter.create_observable_gauge(
            "salescaling.budget.remaining",
            [self.observe_budget],
            "{request}",
            "Requests the key may still send now, per rate window",
        )
        # Keys in use, least recently used first, each with its snapshot at its last attempt.
        self.snapshots: OrderedDict[str, KeyStatistics] = OrderedDict()

    def record(self, event: RequestAttempt) -> None:
        attributes = self.attributes(event)
        end = time.time_ns()  # spans carry wall-clock times; the durations come from the SDK's clock
        span = self.tracer.start_span(
            f"{event.method} {attributes.get('url.template', '')}".rstrip(),
            kind=SpanKind.CLIENT,
            attributes={
                **attributes,
                "url.full": event.url,
                "salescaling.throttle_wait_s": event.throttle_wait,
                "salescaling.retry_count": event.attempt - 1,
                **({"http.request.resend_count": event.attempt - 1} if event.attempt > 1 else {}),
            },
            start_time=end - int(event.duration * 1e9),
        )
        if "error.type" in attributes:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)
        metric_attributes = {k: v for k, v in attributes.items() if k != "salescaling.key_id"}
        self.requests.add(1, attributes)
        self.duration.record(event.duration, metric_attributes)
        self.throttle.record(event.throttle_wait, {"salescaling.key_id": event.key})
        if event.status == 429:
            self.rate_limited.add(1, {"salescaling.key_id": event.key})
        self.snapshots[event.key] = self.client.scheduler.statistics(event.key)
        self.snapshots.move_to_end(event.key)
        while len(self.snapshots) > self.max_keys:
            self.snapshots.popitem(last=False)

    @property
    def keys(self) -> list[str]:
        """The keys the budget gauge reports, least recently used first."""
        return list(self.snapshots)

    def attributes(self, event: RequestAttempt) -> dict[str, Any]:
        parts = urlsplit(event.url)
        out: dict[str, Any] = {
            "http.request.method": event.method,
            "server.address": parts.hostname or "",
            "salescaling.key_id": event.key,
        }
        if parts.port is not None:
            out["server.port"] = parts.port
        if event.template:
            out["url.template"] = self.base_path + event.template
        if event.status is not None:
            out["http.response.status_code"] = event.status
        if event.error is not None:
            out["error.type"] = event.error
        elif event.status is not None and event.status >= 400:
            out["error.type"] = str(event.status)
        return out

    def observe_budget(self, _options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for key in self.keys:
            stats = self.statistics(key)
            for window, limit in stats.limits.items():
                yield metrics.Observation(
                    max(limit - stats.held.get(window, 0), 0), {"salescaling.key_id": key, "salescaling.window": window}
                )
            if _idle(stats):  # reported at its full budget this once; the scheduler forgets it too
                self.snapshots.pop(key, None)

    def statistics(self, key: str) -> KeyStatistics:
        """A fresh snapshot taken on the client's loop (exporters call from their own thread);
        the one taken at the last attempt when that loop is not running."""
        loop = self.client._core.loop
        take: Callable[[], KeyStatistics] = lambda: self.client.scheduler.statistics(key)  # noqa: E731
        if loop is not None and _running_loop() is loop:
            return take()
        if loop is None or not loop.is_running():
            return self.snapshots.get(key) or take()
        future: concurrent.futures.Future[KeyStatistics] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(take())
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        try:
            return future.result(timeout=1.0)
        except Exception:  # noqa: BLE001 - a busy or closing loop: the last snapshot is still true-ish
            return self.snapshots.get(key) or take()


def _idle(stats: KeyStatistics) -> bool:
    """Nothing held, queued, in flight or paused: the key's state is as if never used."""
    return (
        not any(stats.held.values()) and not stats.in_flight and not any(stats.queued.values()) and not stats.paused_for
    )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
