"""Large histories: the status, logs and dashboard reads with 1,000,000 executions in the
database, against the same reads at 10,000 executions in the same run.

    python -m bench.history [--small 10000] [--large 1000000] [--repeats 15]

One throw-away database (`bench_history`, created and dropped here, like `bench.run_engine`):
20 users with 3 campaigns each (one heavy user with 5 campaigns, one of which holds a fifth of
every execution), each campaign with 10 runs over 90 days (the latest one running for the
active campaigns), 4 maker wallets a run, and one job per execution. The rows are loaded with
`INSERT … SELECT generate_series` in SQL, first `--small` of them, then up to `--large`.
After each load (and ANALYZE) the same requests go through Django's test client: the
campaign status API, the logs API (first page, a page ten cursors deep, each filter), the
campaign and logs pages, the dashboard and the executions' admin changelist. Prints

    history executions=<n> status_p95=<ms> logs_p95=<ms> ratio_to_10k=<x>
    history-pages executions=<n> campaign_p95=<ms> dashboard_p95=<ms> admin_p95=<ms>
        csv_1000_rows_ms=<ms>

where `ratio_to_10k` is the larger of the status and logs p95 ratios (large / small), and the
page figures come with their own ratios on the large line. Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta

from bench.run_engine import _campaigns, _setup_django, throwaway_database

DAYS = 90
PERIODS = 10  # runs per campaign, one after the other over the DAYS
MAKERS = 4  # maker wallets per run
USERS = 20
EXTRA_CAMPAIGNS = 2  # per user, beside the one `_campaigns` makes (the heavy user: 4)
# Slots pick the campaign of each row: the heavy campaign 200 of them (a fifth of the rows),
# the heavy user's other campaigns 50 each, every other campaign 10.
HEAVY_SLOTS, HEAVY_USER_SLOTS, OTHER_SLOTS = 200, 50, 10


@dataclass
class World:
    heavy_user: object
    other_user: object  # the owner of `small` and `finished`
    heavy: int  # the heavy campaign (active, its latest run live)
    small: int  # another user's active campaign
    finished: int  # another user's completed campaign (no live run)
    staff: object = None
    sizes: dict = field(default_factory=dict)


def _sibling(first, n: int):
    """Another campaign of `first`'s owner on the same token, pool and funding wallet."""
    from apps.campaigns.models import Campaign

    return Campaign.objects.create(
        owner=first.owner, name=f"{first.name}.{n}", token=first.token, pool=first.pool,
        funding_wallet=first.funding_wallet, network=first.network, params=first.params,
    )  # fmt: skip


def _runs(campaign, *, active: bool, start, period) -> list[tuple]:
    """PERIODS runs of `campaign` one after the other (the last one running when `active`),
    each with MAKERS maker wallets: [(campaign id, period, run id, [maker ids])]."""
    from solders.keypair import Keypair

    from apps.campaigns.models import CampaignRun
    from apps.wallets.models import Wallet

    campaign.status = "active" if active else "completed"
    campaign.save(update_fields=["status"])
    runs = []
    for k in range(PERIODS):
        live = active and k == PERIODS - 1
        run = CampaignRun.objects.create(
            campaign=campaign, seed=k, started_at=start + k * period,
            ended_at=None if live else start + (k + 1) * period,
            status="running" if live else "completed",
            # What the engine's status tick keeps for a live run.
            summary={"jobs": {"succeeded": 1}, "stats_at": start.isoformat()},
        )  # fmt: skip
        makers = Wallet.objects.bulk_create(
            Wallet(owner=campaign.owner, address=str(Keypair().pubkey()), kind="maker",
                   encrypted_secret=b"bench", run=run)
            for _ in range(MAKERS)
        )  # fmt: skip
        runs.append((campaign.pk, k, run.pk, [w.pk for w in makers]))
    return runs


def _world() -> World:
    """Users, campaigns, runs and maker wallets (ORM), and the slot tables the loader joins."""
    from django.db import connection
    from django.utils import timezone

    from apps.campaigns.models import Campaign
    from apps.localnet import Cluster

    ids = _campaigns(USERS, Cluster())
    firsts = list(Campaign.objects.filter(pk__in=ids).order_by("pk"))
    start = timezone.now() - timedelta(days=DAYS)
    period = timedelta(days=DAYS) / PERIODS
    slots, runs = [], []
    for index, first in enumerate(firsts):
        extra = EXTRA_CAMPAIGNS * (2 if index == 0 else 1)
        for position, campaign in enumerate([first, *(_sibling(first, n) for n in range(extra))]):
            if index == 0:
                weight = HEAVY_SLOTS if position == 0 else HEAVY_USER_SLOTS
            else:
                weight = OTHER_SLOTS
            slots += [campaign.pk] * weight
            active = index == 0 or position == 0
            runs += _runs(campaign, active=active, start=start, period=period)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_slot (slot int PRIMARY KEY, campaign_id bigint)")
        cursor.executemany("INSERT INTO bench_slot VALUES (%s, %s)", list(enumerate(slots)))
        cursor.execute(
            "CREATE TABLE bench_run (campaign_id bigint, period int, run_id bigint, "
            "wallets bigint[], PRIMARY KEY (campaign_id, period))"
        )
        cursor.executemany("INSERT INTO bench_run VALUES (%s, %s, %s, %s)", runs)
    return World(
        heavy_user=firsts[0].owner,
        other_user=firsts[1].owner,
        heavy=firsts[0].pk,
        small=firsts[1].pk,
        finished=Campaign.objects.filter(owner=firsts[1].owner, status="completed").first().pk,
        sizes={"start": start, "period": period},
    )


LOAD_SQL = """
WITH rows AS (
    SELECT g, r.run_id, r.campaign_id, r.wallets[1 + g %% {makers}] AS wallet_id, x.t,
           CASE WHEN g %% 5 < 3 THEN 'buy' ELSE 'sell' END AS side,
           CASE WHEN g %% 40 = 0 THEN 'failed' WHEN g %% 97 = 0 THEN 'expired'
                ELSE 'landed' END AS status
    FROM (SELECT g, %(start)s::timestamptz + ((g - %(lo)s) + 0.5) / (%(hi)s - %(lo)s + 1)
                    * interval '{days} days' AS t
          FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g) x
    JOIN bench_slot s ON s.slot = x.g %% (SELECT count(*) FROM bench_slot)
    JOIN bench_run r ON r.campaign_id = s.campaign_id
        AND r.period = LEAST({periods} - 1, floor(extract(epoch FROM x.t - %(start)s)
                                                / {period_s})::int)
), jobs AS (
    INSERT INTO execution_job (id, run_id, queue, type, payload, step, status, attempts,
        idempotency_key, scheduled_for, started_at, finished_at, created_at, updated_at)
    SELECT g, run_id, 'trade', 'trade_' || side, '{{}}', 'main',
           CASE WHEN status = 'landed' THEN 'succeeded' ELSE 'failed' END, 1,
           'bench:' || g, t, t, t, t, t
    FROM rows
)
INSERT INTO execution_execution (id, job_id, run_id, campaign_id, attempt, signature,
    blockhash, bundle_id, status, side, wallet_id, slot, fee_lamports, tip_lamports,
    sol_in_lamports, sol_out_lamports, token_in_raw, token_out_raw, latency_ms, created_at,
    updated_at)
SELECT g, g, run_id, campaign_id, 1, 'benchsig' || lpad(g::text, 12, '0'), '', '', status,
       side, wallet_id, g, 5000, 0,
       CASE WHEN side = 'buy' THEN 10000000 + g %% 1000 ELSE 0 END,
       CASE WHEN side = 'sell' THEN 9000000 + g %% 1000 ELSE 0 END,
       CASE WHEN side = 'sell' THEN 1000000 ELSE 0 END,
       CASE WHEN side = 'buy' THEN 1000000 ELSE 0 END, 400 + g %% 300, t, t
FROM rows
"""


def _load(world: World, *, lo: int, hi: int) -> float:
    """Jobs and executions lo..hi (ids = g), spread over the DAYS; seconds it took."""
    from django.db import connection

    started = time.monotonic()
    sql = LOAD_SQL.format(
        makers=MAKERS, days=DAYS, periods=PERIODS, period_s=world.sizes["period"].total_seconds()
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"start": world.sizes["start"], "lo": lo, "hi": hi})
        for table in ("execution_job", "execution_execution"):
            cursor.execute(f"SELECT setval('{table}_id_seq', {hi})")
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.monotonic() - started


def _staff_client():
    """A superuser's client whose session passed the second factor (the admin asks for it)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.models import User

    staff = User.objects.create_superuser("bench-staff@example.com", "bench-password")
    device = TOTPDevice.objects.create(user=staff, name="bench", confirmed=True)
    client = Client()
    client.force_login(staff)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def _deep_cursor(client, url: str, pages: int) -> str:
    """The cursor of page `pages + 1` of a logs API list, following next_cursor."""
    cursor = ""
    for _ in range(pages):
        body = client.get(url + (f"?cursor={cursor}" if cursor else "")).json()
        cursor = body["next_cursor"] or cursor  # a short history: its last page
    return cursor


def _requests(world: World, client) -> dict[str, list[tuple[str, str]]]:
    """The requests measured at each size, by kind, as (whose client, url): the same ones at
    both sizes."""
    from apps.wallets.models import Wallet

    def api(campaign: int, tail: str = "") -> tuple[str, str]:
        who = "heavy" if campaign == world.heavy else "other"
        return who, f"/v1/campaigns/{campaign}/{tail}"

    logs = api(world.heavy, "logs")[1]
    run_maker = Wallet.objects.filter(run__campaign_id=world.heavy, kind="maker").latest("id")
    middle = world.sizes["start"] + timedelta(days=DAYS // 2)
    since, until = (
        middle.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (middle + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return {
        "status": [api(c, "status") for c in (world.heavy, world.small, world.finished)],
        "logs": [
            *(("heavy", logs + tail) for tail in (
                "", f"?cursor={_deep_cursor(client, logs, 10)}", "?status=failed", "?side=sell",
                f"?wallet={run_maker.address}", f"?since={since}&until={until}",
            )),
            api(world.small, "logs"), api(world.finished, "logs"),
        ],
        "campaign": [("heavy", f"/campaigns/{world.heavy}/"),
                     ("heavy", f"/campaigns/{world.heavy}/logs/")],
        "dashboard": [("heavy", "/dashboard/")],
        "admin": [("staff", "/admin/execution/" + tail) for tail in (
            "execution/", "execution/?status__exact=failed", "execution/?p=3", "job/",
            "execution/?q=benchsig000000004242",
        )],
    }  # fmt: skip


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _time(client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def _csv_first_rows(client, campaign: int, rows: int = 1000) -> float:
    """Milliseconds to the first `rows` lines of the heavy campaign's streamed CSV export."""
    started = time.perf_counter()
    response = client.get(f"/v1/campaigns/{campaign}/logs.csv")
    seen = 0
    for chunk in response.streaming_content:
        seen += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
        if seen > rows:
            break
    response.close()
    return (time.perf_counter() - started) * 1000


def measure(world: World, *, repeats: int) -> dict[str, float]:
    """p95 milliseconds by kind of request, each request repeated `repeats` times (after one
    warm-up pass), and the CSV's first rows."""
    from django.test import Client

    clients = {"staff": world.staff}
    for who, user in (("heavy", world.heavy_user), ("other", world.other_user)):
        clients[who] = Client()
        clients[who].force_login(user)
    plan = _requests(world, clients["heavy"])
    samples: dict[str, list[float]] = {kind: [] for kind in plan}
    by_url: dict[str, list[float]] = {}
    for warm in (True, False):
        for _ in range(1 if warm else repeats):
            for kind, requests in plan.items():
                for who, url in requests:
                    elapsed = _time(clients[who], url)
                    if not warm:
                        samples[kind].append(elapsed)
                        by_url.setdefault(url, []).append(elapsed)
    slowest = sorted(by_url, key=lambda url: -_p95(by_url[url]))[:3]
    print("  slowest: " + ", ".join(f"{url} {_p95(by_url[url]):.0f}ms" for url in slowest),
          file=sys.stderr, flush=True)  # fmt: skip
    figures = {kind: _p95(values) for kind, values in samples.items()}
    figures["csv"] = min(_csv_first_rows(clients["heavy"], world.heavy) for _ in range(3))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    os.environ.setdefault("TEST_DATABASE_NAME", "bench_history")
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # sign-ins and the like, per request
    _setup_django()
    with throwaway_database():
        started = time.monotonic()
        world = _world()
        print(f"  users, campaigns and runs in {time.monotonic() - started:.0f}s", file=sys.stderr)
        world.staff = _staff_client()
        figures = {}
        for size, lo in ((args.small, 1), (args.large, args.small + 1)):
            seconds = _load(world, lo=lo, hi=size)
            print(f"  loaded executions={size} in {seconds:.0f}s", file=sys.stderr, flush=True)
            figures[size] = measure(world, repeats=args.repeats)
            print(f"  {size}: " + " ".join(f"{k}={v:.1f}ms" for k, v in figures[size].items()),
                  file=sys.stderr, flush=True)  # fmt: skip
        small, large = figures[args.small], figures[args.large]
        ratio = max(large["status"] / small["status"], large["logs"] / small["logs"])
        print(
            f"history executions={args.large} status_p95={large['status']:.1f} "
            f"logs_p95={large['logs']:.1f} ratio_to_10k={ratio:.2f}",
            flush=True,
        )
        pages = " ".join(
            f"{kind}_p95={large[kind]:.1f} ({large[kind] / small[kind]:.2f}x)"
            for kind in ("campaign", "dashboard", "admin")
        )
        print(
            f"history-pages executions={args.large} {pages} "
            f"csv_1000_rows_ms={large['csv']:.1f} ({large['csv'] / small['csv']:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
