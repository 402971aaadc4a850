"""``/metrics`` in Prometheus text format (prometheus-client), built on each scrape from
the runs table and the cached aggregates by a custom collector (nothing is counted in this
process alone, so runs of the CLI and the app are in the figures too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from recon_tui.services.overview import metrics_snapshot

HEALTH_STATES = ("ok", "failing", "never synced")


class StoreCollector(Collector):
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        snap = metrics_snapshot(rt.store, rt.overview)
        runs = CounterMetricFamily("recon_runs", "Runs by kind and outcome (whole history)",
                                   labels=["kind", "outcome"])  # fmt: skip
        for kind, outcome, n in snap["runs"]:
            runs.add_metric([kind, outcome], n)
        yield runs
        hist = HistogramMetricFamily("recon_run_duration_seconds", "Durations of finished runs",
                                     labels=["kind"])  # fmt: skip
        for kind, cumulative, count, total in snap["durations"]:
            buckets = [(str(b), float(c)) for b, c in zip(snap["bounds"], cumulative, strict=True)]
            buckets.append(("+Inf", float(count)))
            hist.add_metric([kind], buckets, sum_value=total)
        yield hist
        breaks = GaugeMetricFamily("recon_open_breaks", "Unmatched items by pair and age",
                                   labels=["pair", "age"])  # fmt: skip
        for pair, bucket, n in snap["breaks"]:
            breaks.add_metric([pair, bucket], n)
        yield breaks
        health = GaugeMetricFamily("recon_source_health", "1 for the source's current health",
                                   labels=["source", "health"])  # fmt: skip
        last = GaugeMetricFamily("recon_source_last_success_timestamp_seconds",
                                 "When the source last synced without error", labels=["source"])  # fmt: skip
        for name, state, last_us in snap["sources"]:
            for h in HEALTH_STATES:
                health.add_metric([name, h], 1.0 if h == state else 0.0)
            if last_us is not None:
                last.add_metric([name], last_us / 1_000_000)
        yield health
        yield last
        yield GaugeMetricFamily("recon_overview_compute_seconds",
                                "Time of the last aggregate refresh",
                                value=snap["overview_seconds"])  # fmt: skip


def registry_for(runtime: Any) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StoreCollector(runtime))
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
