"""Prometheus metric objects of the platform, defined once so every process registers them once.

The engine increments the counters and histograms where the event happens (a job finishes, a
transaction lands); gauges that describe shared state (queue depths, live jobs) are set from the
broker and the database at scrape time by `apps.admin_ops.services.metrics_refresh`, so the
web process that serves `/metrics` reports them whichever worker did the work.

Counters live per process. With PROMETHEUS_MULTIPROC_DIR set (prometheus_client's multiprocess
mode, needed with several web processes or prefork workers on one host) `exposed_registry()`
sums every process's files; a worker host exposes its own with WORKER_METRICS_PORT (see
volumebot/celery.py), since a Celery worker serves no HTTP.

HTTP latency histograms per view come from django-prometheus
(`django_http_requests_latency_seconds_by_view_method{view,method}`); RPC calls are counted by
the RPC pool hook in `apps.core.chain` (`volumebot_rpc_calls_total{endpoint,method,outcome}`,
`volumebot_rpc_call_seconds{endpoint,method}`); the shared request budgets by
`apps.core.budgets` (`volumebot_budget_requests_total{endpoint,method_class}`,
`volumebot_budget_wait_seconds{endpoint,method_class}`, `volumebot_budget_429_total{endpoint}`).
"""

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from apps.core.budgets import BUDGET_429, BUDGET_REQUESTS, BUDGET_WAIT_SECONDS
from apps.core.chain import RPC_CALLS, RPC_SECONDS

__all__ = [
    "ALERTS",
    "BUDGET_429",
    "BUDGET_REQUESTS",
    "BUDGET_WAIT_SECONDS",
    "JOBS",
    "JOBS_LIVE",
    "JOB_SECONDS",
    "QUEUE_DEPTH",
    "RPC_CALLS",
    "RPC_SECONDS",
    "TASKS",
    "TASK_SECONDS",
    "TRADES",
    "TRADE_VOLUME_LAMPORTS",
    "TX_LAND_SECONDS",
    "WEBSOCKET_CONNECTIONS",
    "exposed_registry",
    "job_observe",
    "trade_observe",
]

# Gauges set at scrape time: in multiprocess mode the most recent value wins, not a sum.
QUEUE_DEPTH = Gauge(
    "volumebot_queue_depth", "Messages waiting in each Celery queue (broker LLEN)", ["queue"],
    multiprocess_mode="mostrecent",
)  # fmt: skip
JOBS_LIVE = Gauge(
    "volumebot_jobs_by_status", "Live and dead-letter jobs by queue and status (database)",
    ["queue", "status"], multiprocess_mode="mostrecent",
)  # fmt: skip
JOBS = Counter(
    "volumebot_jobs_total", "Jobs finished, by queue, type and outcome (succeeded|failed|dead|…)",
    ["queue", "type", "outcome"],
)  # fmt: skip
JOB_SECONDS = Histogram(
    "volumebot_job_seconds", "Time a job's task ran, by queue and type", ["queue", "type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip
TX_LAND_SECONDS = Histogram(
    "volumebot_tx_land_seconds", "From sending a transaction to seeing it landed, by kind",
    ["kind"], buckets=(0.2, 0.4, 0.8, 1.5, 3, 5, 10, 20, 40, 60, 90),
)  # fmt: skip
TRADES = Counter(
    "volumebot_trades_total", "Trades finished, by side and outcome (landed|failed|expired)",
    ["side", "outcome"],
)  # fmt: skip
TRADE_VOLUME_LAMPORTS = Counter(
    "volumebot_trade_volume_lamports_total", "SOL volume of landed trades in lamports, by side",
    ["side"],
)  # fmt: skip
# Consumers `.inc()` on connect and `.dec()` on disconnect; live processes' values add up.
WEBSOCKET_CONNECTIONS = Gauge(
    "volumebot_websocket_connections", "Open WebSocket connections, by consumer", ["consumer"],
    multiprocess_mode="livesum",
)  # fmt: skip
ALERTS = Counter("volumebot_alerts_total", "Alerts raised, by kind", ["kind"])
# Every Celery task, counted by the worker's signals (volumebot/celery.py), engine or not.
TASKS = Counter(
    "volumebot_tasks_total", "Celery tasks run, by queue, task and final state",
    ["queue", "task", "state"],
)  # fmt: skip
TASK_SECONDS = Histogram(
    "volumebot_task_seconds", "Time a Celery task ran, by queue and task", ["queue", "task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip


def job_observe(*, queue: str, type: str, outcome: str, seconds: float | None = None) -> None:
    """Count one finished job (call once per terminal outcome, outside any retry loop)."""
    JOBS.labels(queue=queue, type=type, outcome=outcome).inc()
    if seconds is not None:
        JOB_SECONDS.labels(queue=queue, type=type).observe(seconds)


def trade_observe(
    *, side: str, outcome: str, volume_lamports: int = 0, land_seconds: float | None = None
) -> None:
    """Count one finished trade; a landed one adds its volume and its send→land latency."""
    TRADES.labels(side=side, outcome=outcome).inc()
    if volume_lamports:
        TRADE_VOLUME_LAMPORTS.labels(side=side).inc(volume_lamports)
    if land_seconds is not None:
        TX_LAND_SECONDS.labels(kind=side).observe(land_seconds)


def exposed_registry() -> CollectorRegistry:
    """What a scrape shows: this process's registry, or every process's in multiprocess mode."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
