"""Prometheus metrics, on a registry of the gateway's own (several gateways can live in one process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("detour_requests", "Requests by front door, served model and status",
                                ["door", "model", "status"], registry=r)
        self.latency = Histogram("detour_request_seconds", "Request latency through the gateway", ["door"],
                                 buckets=_BUCKETS, registry=r)
        self.attempts = Counter("detour_attempts", "Upstream attempts by model and outcome kind",
                                ["model", "kind"], registry=r)
        self.switches = Counter("detour_switches", "Changes of the serving model per chain",
                                ["chain", "from_model", "to_model"], registry=r)
        self.cost = Counter("detour_spend_usd", "Spend by served model, in USD", ["model"], registry=r)
        self._children: dict[tuple[str, str, int], Any] = {}
        self._latency: dict[str, Any] = {}
        self._attempts: dict[tuple[str, str], Any] = {}

    def request(self, door: str, model: str, status: int, seconds: float, attempts: int, cost: float | None, result: Any) -> None:
        key = (door, model, status)
        child = self._children.get(key)
        if child is None:  # cache label children: .labels() is the costly part on the hot path
            child = self._children[key] = self.requests.labels(door, model, str(status))
        child.inc()
        hist = self._latency.get(door)
        if hist is None:
            hist = self._latency[door] = self.latency.labels(door)
        hist.observe(seconds)
        if result is not None:
            for attempt in result.attempts:
                key2 = (attempt.model, attempt.kind)
                counter = self._attempts.get(key2)
                if counter is None:
                    counter = self._attempts[key2] = self.attempts.labels(*key2)
                counter.inc()
        if cost:
            self.cost.labels(model).inc(cost)

    def watch_spend(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Shared-state spend (all processes): today's and this month's USD by provider, read at scrape time."""
        collector = getattr(self, "_spend", None)
        if collector is None:
            collector = self._spend = _SpendCollector(snapshot)
            self.registry.register(collector)
        collector.snapshot = snapshot

    def switch(self, chain: str, from_model: str, to_model: str) -> None:
        self.switches.labels(chain, from_model, to_model).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _SpendCollector:
    """``detour_spend_period_usd{period, provider}`` and ``detour_budget_usd{period, scope}`` gauges."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        snap = self.snapshot()
        spent = GaugeMetricFamily("detour_spend_period_usd", "Spend this UTC day/month by provider (all processes "
                                  "sharing the state store); provider=\"total\" is everything", labels=["period", "provider"])
        for period, table in (("daily", snap["today_usd"]), ("monthly", snap["month_usd"])):
            for provider, usd in table.items():
                spent.add_metric([period, provider], usd)
        limits = GaugeMetricFamily("detour_budget_usd", "Configured budget limits", labels=["period", "scope"])
        for row in snap["budgets"]:
            limits.add_metric([row["period"], row["scope"]], row["limit_usd"])
        yield spent
        yield limits
