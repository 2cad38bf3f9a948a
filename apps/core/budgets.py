"""Request budgets shared by every worker process and pod, kept in Redis.

One token bucket per endpoint and method class (`apps.chain.budget`), configured per network
from the environment, one group per endpoint in the order of its URLs::

    SOLANA_MAINNET_RPC_BUDGETS="all=50,send=5;all=10"   # first URL: 50 req/s, 5 sends/s
    JITO_BUDGETS="ny-a:all=5,bundle=1;frankfurt:all=5"    # per block engine (JITO_ENGINES)

`<class>=<rate per s>[/<burst>]`; classes `all`, `send`, `bundle`, `status`, `read`; the burst
defaults to a tenth of a second's worth (at least 1), so a budget's requests go out evenly
rather than in the bursts that trip a provider's per-second window. A request takes a token from
`all` and from its class, both or neither, in one Lua script: Redis runs scripts one at a time,
so two processes can never both take the last token, and the clock is Redis's own (`TIME`), so
pods with skewed clocks still share one rate. A 429 pauses every bucket of the endpoint for
its Retry-After, for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter, Histogram

from apps.chain.budget import ALL, METHOD_CLASSES, BudgetPaused
from apps.chain.errors import TransientRpcError
from apps.chain.jito import JITO_REGIONS

BUDGET_REQUESTS = Counter(
    "volumebot_budget_requests_total", "Requests let through by the shared budgets",
    ["endpoint", "method_class"],
)  # fmt: skip
BUDGET_WAIT_SECONDS = Histogram(
    "volumebot_budget_wait_seconds", "Time a request waited for its shared budget",
    ["endpoint", "method_class"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
BUDGET_429 = Counter(
    "volumebot_budget_429_total", "429 answers that paused an endpoint's shared budget",
    ["endpoint"],
)  # fmt: skip

# KEYS[1]: the endpoint's pause key; KEYS[2]: this minute's stats hash; KEYS[3..]: bucket
# hashes {tokens, stamp}. ARGV[1]: cost; ARGV[2]: method class; ARGV[3]: ms the request has
# waited so far; then per bucket: rate (tokens per ms), burst.
# Returns {paused (0|1), ms to wait (0: granted)}. A cost above a bucket's burst is let through
# when the bucket is full and leaves it in debt, so a large batch is slowed, never stuck.
# A grant is counted in the stats (requests, and whether and how long it waited), for the
# control room: every process's use of the budget in one place.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return {1, math.ceil(paused - now)} end
local cost = tonumber(ARGV[1])
local wait = 0
local levels = {}
for i = 3, #KEYS do
  local rate = tonumber(ARGV[2 * i - 2])
  local burst = tonumber(ARGV[2 * i - 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'stamp')
  local tokens = tonumber(state[1]) or burst
  local stamp = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
  levels[i] = tokens
  local need = math.min(cost, burst)
  if tokens < need then wait = math.max(wait, (need - tokens) / rate) end
end
if wait > 0 then return {0, math.max(1, math.ceil(wait))} end
for i = 3, #KEYS do
  local rate = tonumber(ARGV[2 * i - 2])
  local burst = tonumber(ARGV[2 * i - 1])
  redis.call('HSET', KEYS[i], 'tokens', levels[i] - cost, 'stamp', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst + cost) / rate) + 1000)
end
redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':requests', cost)
local waited = tonumber(ARGV[3])
if waited > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':waits', 1)
  redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':wait_ms', waited)
end
redis.call('PEXPIRE', KEYS[2], 3600000)
return {0, 0}
"""

# KEYS[1]: the pause key; ARGV[1]: pause in ms. Extends a pause, never shortens one.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local untl = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= untl then return 0 end
redis.call('SET', KEYS[1], tostring(untl), 'PX', math.ceil(tonumber(ARGV[1])))
return 1
"""


@dataclass(frozen=True)
class Limit:
    rate_per_s: float
    burst: int


@dataclass(frozen=True)
class ClassUse:
    method_class: str
    limit: Limit
    tokens: float  # left in the bucket now (negative: in debt after a large batch)


@dataclass(frozen=True)
class EndpointUse:
    """An endpoint's shared budget as every process sees it (`RedisBudget.snapshot`)."""

    endpoint: str
    classes: list[ClassUse]
    counts: dict[str, int]  # "<class>:requests|waits|wait_ms" and "429" over the window
    window_s: float  # the last full minute(s) and the current one so far
    paused_s: float

    def _count(self, method_class: str, what: str) -> int:
        """`what` (requests, waits, wait_ms) of the class; `all`: of every class."""
        if method_class != ALL:
            return self.counts.get(f"{method_class}:{what}", 0)
        return sum(v for k, v in self.counts.items() if k.endswith(f":{what}"))

    def requests(self, method_class: str) -> int:
        return self._count(method_class, "requests")

    def requests_per_s(self, method_class: str) -> float:
        return self.requests(method_class) / self.window_s

    def waits(self, method_class: str) -> int:
        """Requests that had to wait for a token over the window."""
        return self._count(method_class, "waits")

    def mean_wait_ms(self, method_class: str) -> float | None:
        waits = self.waits(method_class)
        return self._count(method_class, "wait_ms") / waits if waits else None

    @property
    def rate_limited(self) -> int:
        """429 answers the endpoint gave over the window."""
        return self.counts.get("429", 0)


def parse_limits(spec: str, *, name: str) -> dict[str, Limit]:
    """`all=50,send=5/2` → {class: Limit}; ImproperlyConfigured naming `name` if malformed."""
    limits: dict[str, Limit] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        klass, _, value = item.partition("=")
        rate_text, _, burst_text = value.partition("/")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, math.ceil(rate / 10))
        except ValueError:
            rate = burst = 0
        klass = klass.strip()
        if klass not in (ALL, *METHOD_CLASSES) or rate <= 0 or burst < 1 or klass in limits:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not <class>=<rate>[/<burst>] with class one of "
                f"{', '.join((ALL, *METHOD_CLASSES))}, a positive rate and burst, once each"
            )
        limits[klass] = Limit(rate_per_s=rate, burst=burst)
    return limits


def parse_budgets(spec: str, *, name: str, endpoints: list[str]) -> dict[str, dict[str, Limit]]:
    """One `;`-separated group per endpoint, in the order of `endpoints` (fewer: the rest
    unbudgeted). A group may start with `<endpoint>:` to name its endpoint instead."""
    groups = [group.strip() for group in spec.split(";")] if spec.strip() else []
    budgets: dict[str, dict[str, Limit]] = {}
    for index, group in enumerate(groups):
        label, sep, rest = group.partition(":")
        if sep:
            endpoint, group = label.strip(), rest
        elif index < len(endpoints):
            endpoint = endpoints[index]
        else:
            raise ImproperlyConfigured(f"{name}: more groups than endpoints ({len(endpoints)})")
        if endpoint not in endpoints:
            raise ImproperlyConfigured(
                f"{name}: unknown endpoint {endpoint!r}; known: {', '.join(endpoints)}"
            )
        budgets[endpoint] = parse_limits(group, name=name)
    return budgets


class RedisBudget:
    """`apps.chain.budget.Budget` over Redis; see the module docstring."""

    def __init__(
        self, *, client: redis.Redis, key_prefix: str, limits: Mapping[str, Mapping[str, Limit]]
    ):
        self._client = client
        self._prefix = key_prefix
        self._limits = {endpoint: dict(classes) for endpoint, classes in limits.items()}
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)

    def _key(self, endpoint: str, part: str) -> str:
        return f"{self._prefix}{endpoint}:{part}"

    @property
    def endpoints(self) -> list[str]:
        """The endpoints this budget limits."""
        return list(self._limits)

    def _stats_key(self, endpoint: str, minute: int | None = None) -> str:
        minute = int(time.time() // 60) if minute is None else minute
        return self._key(endpoint, f"stats:{minute}")

    def reserve(
        self, *, endpoint: str, method_class: str, cost: int = 1, waited_s: float = 0.0
    ) -> tuple[bool, float]:
        """One attempt: (paused, seconds to wait); (False, 0.0) means the tokens are taken.
        `waited_s`: how long the request has waited for them so far (for the stats)."""
        classes = self._limits.get(endpoint, {})
        buckets = [(k, classes[k]) for k in (ALL, method_class) if k in classes]
        keys = [
            self._key(endpoint, "pause"), self._stats_key(endpoint),
            *(self._key(endpoint, k) for k, _ in buckets),
        ]  # fmt: skip
        args: list[float | int | str] = [cost, method_class, round(waited_s * 1000)]
        for _, limit in buckets:
            args += [limit.rate_per_s / 1000, limit.burst]
        try:
            paused, wait_ms = self._take(keys=keys, args=args)
        except redis.RedisError as error:
            # Sending without the budget could get every worker banned by the provider.
            raise TransientRpcError(
                f"request budget unavailable: {error}", endpoint=endpoint
            ) from error
        return bool(paused), wait_ms / 1000

    async def acquire(self, *, endpoint: str, method_class: str, cost: int = 1) -> None:
        waited = 0.0
        while True:
            paused, wait_s = self.reserve(
                endpoint=endpoint, method_class=method_class, cost=cost, waited_s=waited
            )
            if paused:
                raise BudgetPaused(
                    f"{endpoint} is paused by its provider's 429 for {wait_s:.1f} s",
                    endpoint=endpoint,
                    retry_after_s=wait_s,
                )
            if wait_s == 0:
                break
            # Jittered so that processes woken together do not all ask again in one instant.
            wait_s *= random.uniform(1.0, 1.25)
            waited += wait_s
            await asyncio.sleep(wait_s)
        BUDGET_REQUESTS.labels(endpoint=endpoint, method_class=method_class).inc(cost)
        BUDGET_WAIT_SECONDS.labels(endpoint=endpoint, method_class=method_class).observe(waited)

    def pause(self, *, endpoint: str, seconds: float) -> None:
        BUDGET_429.labels(endpoint=endpoint).inc()
        # Without Redis this process has still cooled the endpoint itself; others see the 429.
        with contextlib.suppress(redis.RedisError):
            self._pause(keys=[self._key(endpoint, "pause")], args=[max(1, int(seconds * 1000))])
            stats = self._stats_key(endpoint)
            self._client.pipeline().hincrby(stats, "429", 1).expire(stats, 3600).execute()

    def snapshot(self, *, endpoint: str, minutes: int = 1) -> EndpointUse:
        """What the endpoint's budget looks like now, for every process: each class's limit
        and tokens left, the pause, and the requests, waits and 429s of the current minute
        and the `minutes` before it."""
        now_s = time.time()
        minute = int(now_s // 60)
        classes = self._limits.get(endpoint, {})
        pipe = self._client.pipeline()
        pipe.time()
        pipe.get(self._key(endpoint, "pause"))
        for klass in classes:
            pipe.hmget(self._key(endpoint, klass), "tokens", "stamp")
        for each in range(minute - minutes, minute + 1):
            pipe.hgetall(self._stats_key(endpoint, each))
        (seconds, micros), paused, *rest = pipe.execute()
        redis_ms = seconds * 1000 + micros / 1000
        counts: dict[str, int] = {}
        for window in rest[len(classes) :]:
            for name, value in window.items():
                counts[name.decode()] = counts.get(name.decode(), 0) + int(value)
        rows, levels = [], rest[: len(classes)]
        for (klass, limit), (tokens, stamp) in zip(classes.items(), levels, strict=True):
            level = float(limit.burst)
            if tokens is not None and stamp is not None:
                refill = max(0.0, redis_ms - float(stamp)) * limit.rate_per_s / 1000
                level = min(level, float(tokens) + refill)
            rows.append(ClassUse(method_class=klass, limit=limit, tokens=level))
        return EndpointUse(
            endpoint=endpoint, classes=rows, counts=counts, window_s=60 * minutes + now_s % 60,
            paused_s=max(0.0, (float(paused) - redis_ms) / 1000) if paused else 0.0,
        )  # fmt: skip


_budgets: dict[tuple[str, str], RedisBudget] = {}
_budgets_lock = threading.Lock()


@functools.cache
def budget_redis() -> redis.Redis:
    """This process's connection (pool) to the Redis the budgets live in: the cache's."""
    return redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])


def redis_budget(*, name: str, limits: Mapping[str, Mapping[str, Limit]]) -> RedisBudget:
    """The process-wide budget `name` (a network, or `jito`) on the cache's Redis."""
    # Locked: one client and one set of registered scripts per process and name.
    key = (name, repr(sorted((e, sorted(c.items())) for e, c in limits.items())))
    client = budget_redis()
    with _budgets_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = RedisBudget(
                client=client, key_prefix=cache.make_key(f"budget:{name}:"), limits=limits
            )
        return budget


def rpc_budget(*, network: str, endpoints: list[str]) -> RedisBudget | None:
    """The shared budget of `network`'s endpoints (SOLANA_<NETWORK>_RPC_BUDGETS), or None."""
    spec = settings.SOLANA_RPC_BUDGETS.get(network, "")
    if not spec.strip():
        return None
    name = f"SOLANA_{network.split('-')[0].upper()}_RPC_BUDGETS"
    return redis_budget(name=network, limits=parse_budgets(spec, name=name, endpoints=endpoints))


@dataclass(frozen=True)
class JitoEngine:
    """One block engine the platform may send bundles to: a region, with or without a UUID
    (`x-jito-auth`, which raises the engine's limit for that UUID). `name` is what
    JITO_BUDGETS and the control room call it; the UUID is a credential, never shown."""

    name: str
    region: str
    auth_uuid: str | None = field(default=None, repr=False)


def jito_regions() -> list[str]:
    """Every region a block engine can be in: the localnet's and mainnet's."""
    return ["localnet", *JITO_REGIONS]


def jito_engines() -> list[JitoEngine]:
    """The configured engines (JITO_ENGINES: `name=region[,uuid]` separated by `;`, e.g.
    `ny-a=ny,<uuid>;ny-b=ny,<uuid>;fra=frankfurt`); not set: one engine per region, named by
    it, without a UUID."""
    regions = jito_regions()
    spec = settings.JITO_ENGINES.strip()
    if not spec:
        return [JitoEngine(name=region, region=region) for region in regions]
    engines: dict[str, JitoEngine] = {}
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        name, _, rest = (text.strip() for text in item.partition("="))
        region, _, uuid = (text.strip() for text in rest.partition(","))
        if not name or name in engines or region not in regions:
            raise ImproperlyConfigured(
                f"JITO_ENGINES: {name or item!r} is not <name>=<region>[,<uuid>] with a new "
                f"name and a region among {', '.join(regions)}"
            )
        engines[name] = JitoEngine(name=name, region=region, auth_uuid=uuid or None)
    return list(engines.values())


def jito_budget() -> RedisBudget | None:
    """The shared budget of the Jito block engines (JITO_BUDGETS, groups named by engine, or
    by region for a region's engine without a name)."""
    if not settings.JITO_BUDGETS.strip():
        return None
    names = sorted({engine.name for engine in jito_engines()} | set(jito_regions()))
    limits = parse_budgets(settings.JITO_BUDGETS, name="JITO_BUDGETS", endpoints=names)
    return redis_budget(name="jito", limits=limits)
