"""OpenTelemetry: a span per attempt and the SDK's metrics, read back with the SDK's in-memory exporters."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from salescaling_async import APIStatusError, AsyncSalescaling, ConfigError, RateLimits, RetryConfig, TransportError
from salescaling_async.integrations.otel import instrument
from salescaling_async.testing import Fault, Simulator

SCALE = 20.0


@pytest.fixture(name="otel")
def _otel() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, exporter, meter_provider, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Metric name -> its data points."""
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


async def test_a_span_per_attempt_with_semantic_attributes(otel: Any) -> None:
    """A GET answered 503 then 200 gives two CLIENT spans under the caller's span, with every attribute."""
    tracer_provider, exporter, meter_provider, _ = otel
    retry = RetryConfig(wait_initial=0.001, wait_max=0.002)
    async with Simulator(records=3, faults=[Fault("status", on={1}, status=503)]) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url, retry=retry) as client:
            instrument(client, tracer_provider=tracer_provider, meter_provider=meter_provider)
            with tracer_provider.get_tracer("app").start_as_current_span("job"):
                contact = (await client.contacts.list().to_list())[0]
            await client.contacts.get(contact.id or "")
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    job = next(s for s in spans if s.name == "job")
    failed, listed, got = (s for s in spans if s.name != "job")
    assert (failed.name, got.name) == ("GET /api/v1/contacts", "GET /api/v1/contacts/{id}")
    assert failed.kind is SpanKind.CLIENT
    assert failed.parent is not None and failed.parent.span_id == job.context.span_id
    assert listed.parent is not None and listed.parent.span_id == job.context.span_id
    attrs = dict(failed.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.template"] == "/api/v1/contacts"
    assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == sim.port
    assert (attrs["http.response.status_code"], attrs["error.type"]) == (503, "503")
    assert attrs["salescaling.retry_count"] == 0 and attrs["salescaling.throttle_wait_s"] >= 0
    assert len(str(attrs["salescaling.key_id"])) == 16
    assert failed.status.status_code is StatusCode.ERROR
    second = dict(listed.attributes or {})
    assert (second["http.response.status_code"], second["salescaling.retry_count"]) == (200, 1)
    assert second["http.request.resend_count"] == 1 and "error.type" not in second
    assert failed.end_time is not None and failed.start_time is not None and failed.end_time >= failed.start_time


async def test_transport_errors_are_spans_with_error_type(otel: Any) -> None:
    """A dropped connection on a POST (not retried) is one span with the error class, no status."""
    tracer_provider, exporter, meter_provider, _ = otel
    async with Simulator(records=0, faults=[Fault("reset_before", on={1})]) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            instrument(client, tracer_provider=tracer_provider, meter_provider=meter_provider)
            with pytest.raises(TransportError):
                await client.request("POST", "companies", json={"name": "x"})
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs["error.type"].endswith("Error") and "http.response.status_code" not in attrs
    assert "url.template" not in attrs  # client.request has no template


async def test_metrics_requests_duration_429s_throttle_and_budget(otel: Any) -> None:
    """Counters, histograms and the budget gauge reflect what happened; throttling shows as waits."""
    tracer_provider, _, meter_provider, reader = otel
    limits = RateLimits().scaled(SCALE)
    faults = [Fault("status", on={3}, status=429)]
    async with Simulator(records=1, time_scale=SCALE, faults=faults) as sim:
        async with AsyncSalescaling(
            sim.api_key, base_url=sim.url, limits=limits, retry=RetryConfig(attempts=1)
        ) as client:
            instrument(client, tracer_provider=tracer_provider, meter_provider=meter_provider)
            results = await asyncio.gather(*(client.request("GET", "users") for _ in range(30)), return_exceptions=True)
            assert sum(isinstance(r, Exception) for r in results) == 1
            data = points(reader)
    requests = data["salescaling.requests"]
    assert sum(p.value for p in requests) == 30
    assert sum(p.count for p in data["http.client.request.duration"]) == 30
    assert sum(p.value for p in data["salescaling.rate_limited"]) == 1
    throttle = data["salescaling.throttle.wait"]
    assert sum(p.count for p in throttle) == 30 and max(p.max for p in throttle) > 0
    budget = {p.attributes["salescaling.window"]: p.value for p in data["salescaling.budget.remaining"]}
    assert set(budget) == {w.name for w in limits.windows}
    assert all(0 <= v <= w.limit for w in limits.windows for v in [budget[w.name]])
    assert min(budget.values()) < max(w.limit for w in limits.windows)


async def test_never_the_key(otel: Any) -> None:
    """No span attribute, span name or metric point contains the API key."""
    tracer_provider, exporter, meter_provider, reader = otel
    async with Simulator(records=2) as sim:
        async with AsyncSalescaling(sim.api_key, base_url=sim.url) as client:
            instrument(client, tracer_provider=tracer_provider, meter_provider=meter_provider)
            await client.users.list().to_list()
            with pytest.raises(APIStatusError):
                await client.with_options(retry=RetryConfig(attempts=1)).request("GET", "missing-path")
            dumped = reader.get_metrics_data().to_json()  # type: ignore[union-attr]
    spans = json.dumps([s.to_json() for s in exporter.get_finished_spans()])
    assert sim.api_key not in spans and sim.api_key not in dumped
    with pytest.raises(ConfigError, match="already"):
        instrument(client)


def test_salescaling_log_switches_logging_on_without_code() -> None:
    """``SALESCALING_LOG=debug`` prints the SDK's debug lines to stderr; the key never appears."""
    script = (
        "import asyncio, salescaling_async as s\n"
        "from salescaling_async.testing import Simulator\n"
        "async def main():\n"
        "    async with Simulator(records=1) as sim, s.AsyncSalescaling(sim.api_key, base_url=sim.url) as c:\n"
        "        await c.users.list().to_list()\n"
        "        print(sim.api_key)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "SALESCALING_LOG": "debug"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    key = done.stdout.strip()
    assert "DEBUG salescaling_async: GET http://127.0.0.1:" in done.stderr and "-> 200" in done.stderr
    assert key and key not in done.stderr
    env.pop("SALESCALING_LOG")
    quiet = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert quiet.stderr == ""


def test_unknown_log_level_warns_and_changes_nothing() -> None:
    """An unknown ``SALESCALING_LOG`` value is a RuntimeWarning, not a crash."""
    from salescaling_async._logging import configure_from_env

    with pytest.warns(RuntimeWarning, match="SALESCALING_LOG"):
        assert configure_from_env({"SALESCALING_LOG": "loud"}) is None
    assert configure_from_env({}) is None


async def test_the_budget_gauge_forgets_idle_keys_and_keeps_at_most_max_keys(otel: Any) -> None:
    """Keys come and go in a multi-tenant service: an idle key is reported once more at its
    full budget and then dropped (the scheduler forgets it too); at most ``max_keys`` are kept."""
    from salescaling_async.testing import FakeClock, SimKey

    tracer_provider, _, meter_provider, reader = otel
    keys = [f"sk_tenant_{i:04d}_0123456789" for i in range(30)]
    clock = FakeClock()
    windows = len(RateLimits().windows)

    def reported() -> set[str]:
        return {p.attributes["salescaling.key_id"] for p in points(reader).get("salescaling.budget.remaining", [])}

    async with Simulator(keys={k: SimKey() for k in keys}) as sim:
        async with AsyncSalescaling(keys[0], base_url=sim.url, clock=clock) as client:
            instrument(client, tracer_provider=tracer_provider, meter_provider=meter_provider, max_keys=5)
            for key in keys:
                await client.with_key(key).request("GET", "users")
            first = points(reader)["salescaling.budget.remaining"]
            assert len(first) == 5 * windows  # the 5 most recently used keys, not all 30
            clock.advance(24 * 3600)  # every window long past: every key idle
            assert len(reported()) == 5  # reported once more, at full budget
            assert reported() == set()  # then forgotten
            await client.with_key(keys[3]).request("GET", "users")
            assert len(reported()) == 1
    with pytest.raises(ConfigError):
        instrument(AsyncSalescaling("k"), max_keys=0)
