"""Prometheus metrics of an app instance (served at `/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "livecommerce_http_requests_total", "HTTP requests by route, method and status class.", ["route", "method", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "livecommerce_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
ORDERS = Counter("livecommerce_orders_total", "Order placement attempts by outcome.", ["outcome"], registry=REGISTRY)
PAYMENTS = Counter("livecommerce_payments_total", "Payment confirmations by outcome.", ["outcome"], registry=REGISTRY)
PAYMENT_NOTIFICATIONS = Counter(
    "livecommerce_payment_notifications_total",
    "Provider notifications by provider and outcome (applied, replayed, ignored, rejected: not genuine, refused: not matching the order).",
    ["provider", "outcome"],
    registry=REGISTRY,
)
RECONCILIATION_DIFFERENCES = Gauge(
    "livecommerce_payment_reconciliation_differences",
    "Differences found by the last reconciliation of a provider's bill, by kind.",
    ["provider", "kind"],
    registry=REGISTRY,
)
EVENTS_RELAYED = Counter("livecommerce_events_relayed_total", "Events delivered to websocket clients.", registry=REGISTRY)
EVENTS_PUBLISHED = Counter("livecommerce_events_published_total", "Outbox events published to the bus.", registry=REGISTRY)
WS_CONNECTIONS = Gauge("livecommerce_websocket_connections", "Open websocket connections.", registry=REGISTRY)
WS_DISCONNECTS = Counter("livecommerce_websocket_disconnects_total", "Websocket disconnects by reason.", ["reason"], registry=REGISTRY)
JOB_RUNS = Counter("livecommerce_job_runs_total", "Scheduled job runs by job and outcome.", ["job", "outcome"], registry=REGISTRY)
LEDGER_POSTINGS = Counter("livecommerce_ledger_postings_total", "Ledger transactions posted by kind.", ["kind"], registry=REGISTRY)
