"""Reads for the control room and the metrics endpoint. Every outbound read (broker, workers,
RPC) has a short timeout and degrades to "unknown" instead of failing the page."""

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.admin_ops.models import Alert
from apps.campaigns.models import CampaignRun, RunStatus
from apps.chain.errors import ChainError
from apps.chain.rpc import run_sync
from apps.core.budgets import RedisBudget, jito_budget, rpc_budget
from apps.core.chain import RPC_CALLS, endpoint_names, rpc_pool
from apps.core.errors import DomainError
from apps.execution.fairshare import network_shares
from apps.execution.models import Execution, Job

# kombu's Redis transport keeps messages of priority > 0 in sibling lists named
# "<queue>\x06\x16<priority>" (its default priority steps are 0, 3, 6, 9).
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclass(frozen=True)
class WindowStats:
    trades: int
    landed: int
    failed: int
    volume_lamports: int
    spent_lamports: int

    @property
    def success_rate(self) -> float | None:
        return None if self.trades == 0 else self.landed / self.trades


def trade_stats(*, since: datetime) -> WindowStats:
    """Trades (buy/sell executions) created since `since`: landed, failed or expired, the SOL
    volume of the landed ones and what was spent on fees and tips."""
    finished = Q(status__in=[Execution.Status.LANDED, Execution.Status.FAILED,
                             Execution.Status.EXPIRED])  # fmt: skip
    landed = Q(status=Execution.Status.LANDED)
    row = Execution.objects.filter(
        created_at__gte=since, side__in=[Execution.Side.BUY, Execution.Side.SELL]
    ).aggregate(
        trades=Count("id", filter=finished),
        landed=Count("id", filter=landed),
        volume=Coalesce(Sum(F("sol_in_lamports") + F("sol_out_lamports"), filter=landed), 0),
        spent=Coalesce(Sum(F("fee_lamports") + F("tip_lamports"), filter=finished), 0),
    )
    return WindowStats(
        trades=row["trades"], landed=row["landed"], failed=row["trades"] - row["landed"],
        volume_lamports=int(row["volume"]), spent_lamports=int(row["spent"]),
    )  # fmt: skip


def control_room_kpis(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    runs = CampaignRun.objects.aggregate(
        running=Count("id", filter=Q(status=RunStatus.RUNNING)),
        paused=Count("id", filter=Q(status=RunStatus.PAUSED)),
        stopping=Count("id", filter=Q(status=RunStatus.STOPPING)),
    )
    return {
        "runs": runs,
        "hour": trade_stats(since=now - timedelta(hours=1)),
        "day": trade_stats(since=now - timedelta(hours=24)),
        "dead_jobs": dead_letter_count(),
    }


def dead_letter_count() -> int:
    return Job.objects.filter(status=Job.Status.DEAD).count()


def job_counts() -> dict[tuple[str, str], int]:
    """Live and dead-letter jobs by (queue, status); finished jobs are history, not load."""
    rows = (
        Job.objects.filter(status__in=[*Job.LIVE, Job.Status.DEAD])
        .values("queue", "status")
        .annotate(n=Count("id"))
    )
    return {(row["queue"], row["status"]): row["n"] for row in rows}


def _broker_client() -> redis.Redis:
    timeout = _setting("OPS_BROKER_TIMEOUT_S", 1.0)
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each Celery queue, read from the broker (None: broker unreachable).
    Tasks with an ETA are held by the worker that reserved them, so they are not counted here;
    the job counts by status show them."""
    from volumebot.celery import QUEUES

    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    keys = {
        queue: [f"{prefix}{queue}"]
        + [f"{prefix}{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS]
        for queue in QUEUES
    }
    client = _broker_client()
    try:
        pipe = client.pipeline(transaction=False)
        for names in keys.values():
            for name in names:
                pipe.llen(name)
        lengths = iter(pipe.execute())
    except redis.RedisError:
        return dict.fromkeys(QUEUES)
    finally:
        client.close()
    return {queue: sum(next(lengths) for _ in names) for queue, names in keys.items()}


@dataclass(frozen=True)
class Worker:
    name: str
    queues: list[str]


def worker_heartbeats() -> list[Worker] | None:
    """Workers that answered a broadcast within the timeout, with the queues they consume
    (None: the broker could not be reached)."""
    from volumebot.celery import app

    timeout = _setting("OPS_INSPECT_TIMEOUT_S", 1.0)
    try:
        # A connection of its own, closed after the broadcast: an operator's page view needs
        # no pooled producer connection (and does not depend on the pool's state).
        with app.connection_for_write() as connection:
            inspect = app.control.inspect(timeout=timeout, connection=connection)
            replies = inspect.active_queues() or {}
    except (OSError, redis.RedisError, RuntimeError):
        # RuntimeError: kombu's "Acquire on closed pool", seen in the full test suite after
        # tests that switch the broker (not root-caused): the broker is not reachable from here.
        return None
    return [
        Worker(name=name, queues=sorted(queue["name"] for queue in queues or []))
        for name, queues in sorted(replies.items())
    ]


@dataclass(frozen=True)
class EndpointRow:
    network: str
    name: str
    url: str
    available: bool
    latency_ms: int | None
    slot: int | None
    cooling_for_s: float
    last_error: str | None
    calls: int
    error_rate: float | None


def _rpc_outcomes() -> dict[str, tuple[int, int]]:
    """(calls, failed calls) per endpoint seen by this process's RPC pools."""
    totals: dict[str, list[int]] = {}
    for family in RPC_CALLS.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            row = totals.setdefault(sample.labels["endpoint"], [0, 0])
            row[0] += int(sample.value)
            if sample.labels["outcome"] != "ok":
                row[1] += int(sample.value)
    return {name: (calls, failed) for name, (calls, failed) in totals.items()}


def rpc_health(*, probe: bool = True) -> list[EndpointRow]:
    """Every configured endpoint of every network; with `probe`, each is asked for its slot
    first (bounded by OPS_RPC_PROBE_TIMEOUT_S), otherwise the pool's last view is shown."""
    timeout = _setting("OPS_RPC_PROBE_TIMEOUT_S", 2.0)
    pools = {}
    for network, urls in settings.SOLANA_RPC_URLS.items():
        if not urls:
            continue
        try:
            pools[network] = rpc_pool(network)
        except DomainError:
            continue
        if probe:
            # On a timeout the pool's own view (cool-downs, last errors) is what we show.
            with contextlib.suppress(TimeoutError, ChainError):
                run_sync(asyncio.wait_for(pools[network].probe(), timeout))
    outcomes = _rpc_outcomes()
    rows = []
    for network, pool in pools.items():
        for endpoint in pool.health():
            calls, failed = outcomes.get(endpoint.name, (0, 0))
            rows.append(
                EndpointRow(
                    network=network,
                    name=endpoint.name,
                    url=endpoint.url,
                    available=endpoint.available,
                    latency_ms=endpoint.latency_ms,
                    slot=endpoint.slot,
                    cooling_for_s=round(endpoint.cooling_for_s, 1),
                    last_error=endpoint.last_error,
                    calls=calls,
                    error_rate=(failed / calls) if calls else None,
                )
            )
    return rows


def flagged_users(*, now: datetime | None = None) -> list[dict]:
    """Users whose runs tripped circuit breakers or guardrails, or who hit rate limits, at least
    OPS_ABUSE_THRESHOLD times within the last OPS_ABUSE_WINDOW_HOURS."""
    now = now or timezone.now()
    since = now - timedelta(hours=_setting("OPS_ABUSE_WINDOW_HOURS", 24 * 7))
    rows = (
        Alert.objects.filter(kind__in=Alert.ABUSE_KINDS, last_seen_at__gte=since)
        .values("user_id", "user__email", "user__is_active")
        .annotate(
            total=Sum("count"),
            breakers=Coalesce(Sum("count", filter=Q(kind=Alert.Kind.CIRCUIT_BREAKER)), 0),
            guardrails=Coalesce(Sum("count", filter=Q(kind=Alert.Kind.GUARDRAIL)), 0),
            rate_limits=Coalesce(Sum("count", filter=Q(kind=Alert.Kind.RATE_LIMIT)), 0),
        )
        .filter(total__gte=_setting("OPS_ABUSE_THRESHOLD", 3))
        .order_by("-total", "user_id")
    )
    return list(rows)


def alerts_open(*, limit: int = 20) -> list[Alert]:
    return list(
        Alert.objects.filter(resolved_at__isnull=True).select_related("user", "campaign")[:limit]
    )


def alerts_for_user(*, user, campaign=None, limit: int = 10) -> list[Alert]:
    """A user's own open alerts (about one campaign, if given), newest first: their dashboard
    and the campaign's page show them until an operator resolves them."""
    alerts = Alert.objects.filter(user=user, resolved_at__isnull=True)
    if campaign is not None:
        alerts = alerts.filter(campaign=campaign)
    return list(alerts.select_related("campaign")[:limit])


@dataclass(frozen=True)
class BudgetRow:
    """One endpoint's bucket of one method class, as every worker shares it (the last full
    minute and the current one)."""

    budget: str  # the network, or "jito"
    endpoint: str
    method_class: str
    rate_per_s: float
    burst: int
    tokens: float
    requests: int
    used_per_s: float
    waits: int
    mean_wait_ms: float | None
    rate_limited: int  # the endpoint's 429s
    paused_s: float

    @property
    def use_percent(self) -> int:
        return round(100 * self.used_per_s / self.rate_per_s)


def _budgets() -> list[tuple[str, RedisBudget]]:
    """Every configured shared budget: each network's RPC endpoints', and the Jito engines'."""
    budgets = []
    for network in settings.SOLANA_RPC_URLS:
        budget = rpc_budget(network=network, endpoints=endpoint_names(network))
        if budget is not None:
            budgets.append((network, budget))
    jito = jito_budget()
    if jito is not None:
        budgets.append(("jito", jito))
    return budgets


def budget_use() -> list[BudgetRow] | None:
    """Every endpoint's budget per method class: the limit, the tokens left, and over the
    last full minute and the current one the use, the waits and the 429s (None: Redis
    unreachable)."""
    rows = []
    try:
        for name, budget in _budgets():
            for endpoint in budget.endpoints:
                use = budget.snapshot(endpoint=endpoint)
                rows += [
                    BudgetRow(
                        budget=name, endpoint=endpoint, method_class=row.method_class,
                        rate_per_s=row.limit.rate_per_s, burst=row.limit.burst,
                        tokens=round(row.tokens, 1), requests=use.requests(row.method_class),
                        used_per_s=round(use.requests_per_s(row.method_class), 2),
                        waits=use.waits(row.method_class),
                        mean_wait_ms=use.mean_wait_ms(row.method_class),
                        rate_limited=use.rate_limited, paused_s=round(use.paused_s, 1),
                    )
                    for row in use.classes
                ]  # fmt: skip
    except redis.RedisError:
        return None
    return rows


@dataclass(frozen=True)
class ShareRow:
    network: str
    capacity_per_minute: float
    run: CampaignRun
    demand_per_minute: float
    share_per_minute: float
    slowed: bool


def fair_share_rows() -> list[ShareRow] | None:
    """Each running campaign's fair share of its network's budget, as its planner computes
    it, and whether the budget slows it (None: Redis unreachable)."""
    found = []
    try:
        for network in settings.SOLANA_RPC_URLS:
            capacity, shares = network_shares(network)
            found += [(network, capacity, share) for share in shares]
    except redis.RedisError:
        return None
    runs = CampaignRun.objects.select_related("campaign__owner").in_bulk(
        [share.run_id for _, _, share in found]
    )
    return [
        ShareRow(
            network=network, capacity_per_minute=round(60 * capacity, 1), run=runs[share.run_id],
            demand_per_minute=round(60 * share.demand_per_s, 1),
            share_per_minute=round(60 * share.share_per_s, 1), slowed=share.slowed,
        )
        for network, capacity, share in found
        if share.run_id in runs and runs[share.run_id].status == RunStatus.RUNNING
    ]  # fmt: skip
