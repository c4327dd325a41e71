"""Prometheus metrics of one app (own registry: no global singletons)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


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

    def render(self) -> web.Response:
        """The Prometheus text exposition."""
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
