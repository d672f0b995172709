"""Prometheus metrics, in a registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "labelbay_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "labelbay_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.uploads = Counter(
            "labelbay_uploads_total",
            "Uploaded files by outcome (stored or rejected).",
            ["outcome"],
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "labelbay_upload_bytes_total", "Bytes of stored uploads.", registry=self.registry
        )
        self.rate_limited = Counter(
            "labelbay_rate_limited_total",
            "Requests refused with 429, by scope.",
            ["scope"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
