"""Prometheus metrics of one app (own registry: no global singletons)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from notifier.ops import OpsSnapshot


class Metrics:
    """The metrics of one app instance."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hagukumi_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hagukumi_http_request_seconds",
            "time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "hagukumi_api_rate_limited_total",
            "requests refused by the rate limit",
            registry=self.registry,
        )

        self.bot_events = Counter(
            "hagukumi_bot_events_total",
            "LINE webhook events by what became of them",
            ["kind", "outcome"],
            registry=self.registry,
        )

        self.line_quota_exhausted = Counter(
            "hagukumi_line_quota_exhausted_total",
            "times LINE answered that the monthly message limit is reached (pushes stop)",
            registry=self.registry,
        )

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """Count and time every request by its route template (never the raw path)."""

        @web.middleware
        async def measure(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            started = time.perf_counter()
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            finally:
                self.requests.labels(request.method, route, str(status)).inc()
                self.latency.labels(request.method, route).observe(time.perf_counter() - started)

        return measure

    def render(self, ops: OpsSnapshot | None = None) -> web.Response:
        """The Prometheus text exposition (with the operator's numbers read for this scrape)."""
        body = generate_latest(self.registry)
        if ops is not None:
            scrape = CollectorRegistry()
            scrape.register(OpsCollector(ops))
            body += generate_latest(scrape)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


class OpsCollector(Collector):
    """The operator's numbers of one scrape as Prometheus gauges."""

    def __init__(self, ops: OpsSnapshot) -> None:
        self.ops = ops

    def collect(self) -> Iterator[Metric]:
        ops = self.ops
        notices = GaugeMetricFamily(
            "hagukumi_notices",
            "notices in the ledger by state (planned, sent, failed, suppressed), channel and "
            "reason",
            labels=["state", "channel", "reason"],
        )
        for (state, channel, reason), count in sorted(ops.notices.items()):
            notices.add_metric([state, channel, reason], count)
        yield notices
        yield from _gauge(
            "hagukumi_delivery_backlog",
            "send requests waiting in the Redis stream (queued) or for a retry (retrying)",
            {"queued": ops.stream_backlog, "retrying": ops.retry_backlog},
            label="where",
        )
        yield from _gauge(
            "hagukumi_delivery_pending_requests",
            "send requests stored and not yet sent",
            ops.pending_requests,
        )
        yield from _gauge(
            "hagukumi_delivery_oldest_pending_seconds",
            "age of the oldest send request not yet sent (0 when none waits)",
            ops.oldest_pending_s,
        )
        leader = GaugeMetricFamily(
            "hagukumi_scheduler_leader",
            "the scheduler process holding the lease (1), absent when none does",
            labels=["holder"],
        )
        if ops.leader is not None:
            leader.add_metric([ops.leader], 1)
        yield leader
        if "redis" not in ops.errors:
            yield from _gauge(
                "hagukumi_scheduler_leader_present",
                "1 when a scheduler holds the lease, 0 when none runs the jobs",
                1 if ops.leader is not None else 0,
            )
        yield from _gauge(
            "hagukumi_scheduler_lease_seconds_left",
            "time until the leader's lease runs out unless renewed",
            ops.leader_ttl_s,
        )
        heartbeats = GaugeMetricFamily(
            "hagukumi_heartbeat_age_seconds",
            "seconds since each delivery worker and scheduler last reported alive",
            labels=["role", "process"],
        )
        for role, beats in (("worker", ops.workers), ("scheduler", ops.schedulers)):
            for process, age in beats.items():
                heartbeats.add_metric([role, process], age)
        yield heartbeats
        yield from _gauge(
            "hagukumi_line_quota_remaining",
            "LINE messages left this month as last read (+Inf: no monthly limit)",
            ops.quota_remaining,
        )
        yield from _gauge(
            "hagukumi_line_quota_limit", "LINE's monthly message limit", ops.quota_limit
        )
        yield from _gauge(
            "hagukumi_line_quota_checked_timestamp_seconds",
            "when the LINE quota was last read (Unix time)",
            ops.quota_checked_at,
        )
        errors = GaugeMetricFamily(
            "hagukumi_metrics_source_up",
            "1 when the source of these metrics answered this scrape",
            labels=["source"],
        )
        for source in ("database", "redis"):
            errors.add_metric([source], 0 if source in ops.errors else 1)
        yield errors


def _gauge(
    name: str,
    documentation: str,
    value: float | dict[str, float | None] | None,
    *,
    label: str = "",
) -> Iterator[Metric]:
    """One gauge, left out when its value is unknown (its source did not answer)."""
    if isinstance(value, dict):
        family = GaugeMetricFamily(name, documentation, labels=[label])
        known = {k: v for k, v in value.items() if v is not None}
        for key, item in known.items():
            family.add_metric([key], item)
        if known:
            yield family
        return
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)
