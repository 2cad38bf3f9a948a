"""Fair share of a network's request budget between the runs trading on it.

A network whose RPC endpoints have a shared budget (`apps.core.budgets`) can carry only so
many trades per second: its primary endpoint's `send` rate, or its `all` rate divided by the
requests a trade costs (EXECUTION_REQUESTS_PER_TRADE), whichever is less. Each planner window
registers its run's demand (the trades per second its parameters ask for) in Redis and reads
its share, computed from everyone's at most once a second (`RECOMPUTE_S`) and kept beside the
registry; the capacity is split by weighted max-min fairness (`fair_shares`): a run
asking for less than an equal share gets all it asks, the rest is split between the others in
proportion to their weights, and a user's runs together never get more than the cap an admin
set for that user (`User.max_trades_per_minute`). The planner plans at most its share, so a
run over its share slows down (its plan moves later) instead of piling up overdue trades, and
a small run is never starved by a large one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache

from apps.chain.budget import ALL, SEND
from apps.core.budgets import budget_redis, parse_budgets
from apps.execution.planner import PlanConfig

# A run whose share is under a trade a window plans again when its credit makes a trade, but
# at least once in this many windows.
MAX_GAP_WINDOWS = 12
# A run that has not registered for this many windows (and at least STALE_MIN_S) has
# stopped or paused, or its planner is far behind: no longer counted.
STALE_WINDOWS = MAX_GAP_WINDOWS + 3
STALE_MIN_S = 30.0


@dataclass(frozen=True)
class Demand:
    run_id: int
    user_id: int
    trades_per_s: float
    weight: float = 1.0


def demand_per_s(config: PlanConfig) -> float:
    """Trades per second a plan asks for: its cadence, at most what its concurrency allows."""
    if config.trades_per_minute is not None:
        asked = config.trades_per_minute / 60
    else:
        mean_gap_ms = (config.min_delay_ms + config.max_delay_ms) / 2
        asked = 1000 / mean_gap_ms if mean_gap_ms > 0 else math.inf
    return min(asked, config.concurrency_cap * 1000 / max(config.busy_ms, 1))


def _water_fill(demands: list[tuple[int, float, float]], capacity: float) -> dict[int, float]:
    """Weighted max-min fairness over (key, demand, weight): nobody gets more than it asks,
    and what is left is split by weight. One pass in the order of demand per weight (at 1,000
    runs, a pass per satisfied run would be a million steps)."""
    shares: dict[int, float] = {}
    pending = sorted(demands, key=lambda d: d[1] / d[2])
    weights = sum(weight for _, _, weight in pending)
    for index, (key, demand, weight) in enumerate(pending):
        level = capacity / weights
        if demand > level * weight:
            for key, _, weight in pending[index:]:
                shares[key] = level * weight
            break
        shares[key] = demand
        capacity -= demand
        weights -= weight
    return shares


def fair_shares(
    demands: Iterable[Demand], *, capacity_per_s: float, user_caps_per_s: Mapping[int, float]
) -> dict[int, float]:
    """Trades per second each run may make: first each user's runs within that user's cap,
    then everyone within the capacity (see the module docstring)."""
    by_user: dict[int, list[Demand]] = {}
    for demand in demands:
        by_user.setdefault(demand.user_id, []).append(demand)
    capped: list[tuple[int, float, float]] = []
    for user_id, runs in by_user.items():
        asks = [(d.run_id, d.trades_per_s, d.weight) for d in runs]
        cap = user_caps_per_s.get(user_id)
        if cap is not None:
            weights = {d.run_id: d.weight for d in runs}
            asks = [(key, share, weights[key]) for key, share in _water_fill(asks, cap).items()]
        capped += asks
    return _water_fill(capped, capacity_per_s)


def network_capacity_per_s(network: str) -> float | None:
    """Trades per second the network's primary endpoint budget carries (None: no budget)."""
    spec = settings.SOLANA_RPC_BUDGETS.get(network, "")
    if not spec.strip():
        return None
    primary = f"{network}-0"
    limits = parse_budgets(spec, name=network, endpoints=[primary]).get(primary, {})
    rates = []
    if SEND in limits:
        rates.append(limits[SEND].rate_per_s)
    if ALL in limits:
        rates.append(limits[ALL].rate_per_s / settings.EXECUTION_REQUESTS_PER_TRADE)
    return min(rates) if rates else None


def _registry_key(network: str) -> str:
    return cache.make_key(f"fairshare:{network}")


def _stale_before(now: float) -> float:
    return now - max(STALE_WINDOWS * settings.EXECUTION_PLAN_WINDOW_MS / 1000, STALE_MIN_S)


def _registered(entries: Mapping, *, now: float) -> tuple[list[Demand], dict[int, float], list]:
    """The live demands in the registry's `entries`, the users' caps, and the stale runs."""
    demands, caps, stale = [], {}, []
    for run, raw in entries.items():
        item = json.loads(raw)
        if item["at"] < _stale_before(now):
            stale.append(run)
            continue
        demands.append(Demand(int(run), item["user"], item["demand"], item["weight"]))
        if item["cap"] is not None:
            caps[item["user"]] = item["cap"]
    return demands, caps, stale


# The shares are computed from the registry at most this often (or when a run is new to
# them) and kept in Redis beside it, for every process: at 1,000 runs, reading and splitting
# every run's demand for every window of every run would be a million entries per round.
RECOMPUTE_S = 1.0
_COMPUTED_AT = "at"


def run_share_per_s(*, network: str, demand: Demand, user_cap_per_s: float | None) -> float | None:
    """Register `demand` for this window and return the run's fair share of the network's
    capacity in trades per second (None: the network has no budget, no limit)."""
    capacity = network_capacity_per_s(network)
    if capacity is None:
        return None
    client = budget_redis()
    key = _registry_key(network)
    now = time.time()
    entry = {"user": demand.user_id, "demand": demand.trades_per_s, "weight": demand.weight,
             "cap": user_cap_per_s, "at": now}  # fmt: skip
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, str(demand.run_id), json.dumps(entry))
        pipe.hmget(f"{key}:shares", _COMPUTED_AT, str(demand.run_id))
        computed_at, share = pipe.execute()[1]
        if computed_at is None or share is None or now - float(computed_at) >= RECOMPUTE_S:
            share = _shares_compute(client, key, capacity, now=now).get(demand.run_id, 0.0)
    except redis.RedisError:
        # Without the registry, an equal share as if every one of the user's runs were alone
        # would overspend; plan as the run's own demand allows and let the budget pace it.
        return None
    return float(share)


def _shares_compute(client: redis.Redis, key: str, capacity: float, *, now: float):
    """Every registered run's share, kept in `<key>:shares`; stale entries leave the registry."""
    demands, caps, stale = _registered(client.hgetall(key), now=now)
    shares = fair_shares(demands, capacity_per_s=capacity, user_caps_per_s=caps)
    pipe = client.pipeline(transaction=True)
    if stale:
        pipe.hdel(key, *stale)
    pipe.delete(f"{key}:shares")
    pipe.hset(f"{key}:shares", mapping={_COMPUTED_AT: now, **shares})
    # Both go with the last run on the network (a registry entry lives STALE_WINDOWS).
    keep_s = math.ceil(max(STALE_WINDOWS * settings.EXECUTION_PLAN_WINDOW_MS / 1000, STALE_MIN_S))
    for name in (key, f"{key}:shares"):
        pipe.expire(name, keep_s * 2)
    pipe.execute()
    return shares


@dataclass(frozen=True)
class RunShare:
    run_id: int
    demand_per_s: float
    share_per_s: float

    @property
    def slowed(self) -> bool:
        """The run asks for more than its share: the planner plans it slower."""
        return self.share_per_s < self.demand_per_s * 0.999


def network_shares(network: str) -> tuple[float | None, list[RunShare]]:
    """The network's capacity (trades/s, None: no budget) and the fair share of each run its
    planners registered, as the planners compute them (read only: registers nothing)."""
    capacity = network_capacity_per_s(network)
    if capacity is None:
        return None, []
    entries = budget_redis().hgetall(_registry_key(network))
    demands, caps, _ = _registered(entries, now=time.time())
    shares = fair_shares(demands, capacity_per_s=capacity, user_caps_per_s=caps)
    return capacity, [
        RunShare(run_id=d.run_id, demand_per_s=d.trades_per_s, share_per_s=shares[d.run_id])
        for d in demands
    ]
