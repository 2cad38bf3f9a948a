"""The web tier under load: API latency for 50 clients, idle and while 10 campaigns run, and how
long a landed trade takes to reach 20 open campaign pages over the WebSocket.

    python -m bench.web [--clients 50] [--rate 0.5] [--pages 20] [--campaigns 10] [--seconds 15]

Prints four lines:

    api clients=<n> rps=<n> p50=<ms> p95=<ms> errors=<n> rate=<r>/s               (idle)
    api clients=<n> rps=<n> p50=<ms> p95=<ms> errors=<n> rate=<r>/s campaigns=<n> (while they run)
    api saturation clients=<n> rps=<n> p50=<ms> p95=<ms> errors=<n>               (idle)
    ws delay p50=<ms> p95=<ms> messages=<n> pages=<n> campaigns=<n>

What "50 clients" means: an API client of the platform is a user's script or dashboard polling
its campaigns, so each client sends `--rate` requests a second (its campaign list, then its
campaign's status, in turn), whether or not the previous one has answered (open loop), and a
request's latency counts from when it was due (`bench.webload`); `rps` is the total rate the
tier served. The target latencies (p95 < 50 ms idle, < 300 ms while 10 campaigns run) are for
that load. Fired back to back instead (closed loop, no pause), 50 clients make the p95 about
50 / throughput whatever the tier does (on 2 cores, one request every few milliseconds is the
best a Django process can do), so that is measured on its own: `api saturation` gives the
throughput the tier sustains, its latency being the queue the clients make themselves.

The web tier is started the way `make run` starts it (`volumebot.devstack.web_command`), with
DEBUG off, `WEB_CONCURRENCY` uvicorn processes (default: the number of cores), on the
development settings, against a throw-away database (`bench_web`, created and dropped here)
and this run's own Redis prefixes. Each API client signs in with a JWT; rate limits are lifted
for the bench users (the throttles still count every request). The campaigns trade on an
in-process localnet through real Celery workers (bench.run_engine's). A page is a `?token=`
WebSocket with the site's Origin, two per campaign; the delay is from the moment the engine
recorded a trade as landed (its execution row's `updated_at`) to the moment a page received the
`job_completed` message naming its signature. Where that time goes is printed on stderr
(`ws hops`): landed → published (the engine's commit and send, as a listener of the campaigns'
channel groups in the load generator's process sees it) and published → page (the web tier's
render and send). The load generators run in their own process; they still share the machine
(as do the workers, the localnet, PostgreSQL and Redis), so the figures are for this machine at
this moment: compare runs made one after another. Nothing here waits without a bound: a
generator that does not report back within its window and a margin is stopped and its figures
are missing (`nan`). Not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

LIFTED_RATE = "10000000/min"
# A loaded machine (the bench shares it) can take a minute or more to import the project.
START_TIMEOUT_S = 300
# How long past its window a load generator may take to report (connecting 20 pages on a loaded
# machine, the last requests' answers).
GENERATOR_MARGIN_S = 300


# ---------------------------------------------------------------------------------------------
# The load generators (bench.webload, in a spawned process)


def generate(job: dict) -> dict:
    """Run `job` in a fresh process; its results, or empty ones if it does not report back in
    time (it is stopped then)."""
    from bench import webload

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=webload.run, args=(job, results))
    child.start()
    try:
        outcome = results.get(timeout=job["seconds"] + GENERATOR_MARGIN_S)
    except queue.Empty:
        print("  the load generator did not report back: stopped", file=sys.stderr, flush=True)
        outcome = {"api": None, "seen": [], "published": {}, "failures": []}
    child.join(30)
    if child.is_alive():
        child.kill()
        child.join()
    if outcome["failures"]:
        print(f"  pages that did not open: {outcome['failures']}", file=sys.stderr, flush=True)
    return outcome


# ---------------------------------------------------------------------------------------------
# The web tier


def _web_environment(*, port: int) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    database = urlsplit(os.environ["DATABASE_URL"])
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.base",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECRET_KEY": settings.SECRET_KEY,
        # The bench's wallets were encrypted under the test settings' master key.
        "WALLET_MASTER_KEY": settings.WALLET_MASTER_KEY,
        "DATABASE_URL": urlunsplit(database._replace(path="/" + connection.settings_dict["NAME"])),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "RATE_LIMIT_USER": LIFTED_RATE,
        "RATE_LIMIT_ANON": LIFTED_RATE,
        "WEB_PORT": str(port),
    }
    # The cache, channel-layer and broker prefixes are this run's (set by the test settings),
    # so the workers' events reach the tier's sockets and nothing touches development data.
    return environment


def start_web(*, port: int, workers: int) -> subprocess.Popen:
    """The web tier as `make run` starts it, with `workers` processes (WEB_CONCURRENCY)."""
    import httpx

    from volumebot.devstack import web_command

    environment = {**_web_environment(port=port), "WEB_CONCURRENCY": str(workers)}
    command = web_command(host="127.0.0.1", port=port)
    process = subprocess.Popen(command, env=environment, start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web tier exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        time.sleep(0.2)
    stop_web(process)
    raise RuntimeError(f"the web tier did not answer /healthz within {START_TIMEOUT_S} s")


def stop_web(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# ---------------------------------------------------------------------------------------------
# The figures


def _ms(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * fraction))] * 1000


def api_line(result: dict | None, *, clients: int, rate: float | None, running: int = 0) -> str:
    """`api clients=…` for a paced load (`rate` per client), `api saturation clients=…` for a
    closed-loop one (None)."""
    result = result or {"latencies": [], "statuses": {}, "elapsed": 1.0}
    latencies, statuses = result["latencies"], result["statuses"]
    # Anything but a 200 is an error here (a 401 or 403 means the bench itself is broken).
    errors = sum(n for status, n in statuses.items() if status != 200)
    line = (
        f"api {'' if rate else 'saturation '}clients={clients} "
        f"rps={len(latencies) / result['elapsed']:.0f} "
        f"p50={_ms(latencies, 0.50):.0f} p95={_ms(latencies, 0.95):.0f} errors={errors}"
    )
    if rate:
        line += f" rate={rate:g}/s"
    if running:
        line += f" campaigns={running}"
    others = {status: n for status, n in statuses.items() if status != 200}
    if others:
        print(f"  api answers other than 200: {others}", file=sys.stderr, flush=True)
    return line


def _landed_at(signatures: set[str]) -> dict[str, float]:
    """When the engine recorded each trade as landed (unix seconds)."""
    from apps.execution.models import Execution

    rows = Execution.objects.filter(signature__in=signatures, status="landed")
    return {sig: at.timestamp() for sig, at in rows.values_list("signature", "updated_at")}


def ws_delays(seen: list) -> list[float]:
    """Seconds from each trade's landing (as the engine recorded it) to each page's receipt."""
    landed = _landed_at({signature for signature, _ in seen})
    return sorted(
        received - landed[signature] for signature, received in seen if signature in landed
    )


def ws_hops(seen: list, published: dict[str, float]) -> str:
    """Where a trade message's time goes: landed → published (seen by the load generator's
    group listener), published → received by a page."""
    landed = _landed_at(set(published))
    engine = sorted(at - landed[sig] for sig, at in published.items() if sig in landed)
    web = sorted(received - published[sig] for sig, received in seen if sig in published)
    return (
        f"  ws hops: landed→published p50={_ms(engine, 0.5):.0f} p95={_ms(engine, 0.95):.0f} "
        f"published→page p50={_ms(web, 0.5):.0f} p95={_ms(web, 0.95):.0f}"
    )


# ---------------------------------------------------------------------------------------------


def _clients_and_pages(ids: list[int], *, clients: int, pages: int, port: int):
    """API client i is campaign i's owner (its campaign list, then its campaign's status, in
    turn); page i watches campaign i with its owner's token."""
    from apps.accounts.models import User
    from apps.accounts.tokens import StampedRefreshToken
    from apps.campaigns.models import Campaign

    owners = dict(Campaign.objects.filter(pk__in=ids).values_list("pk", "owner"))
    tokens = {
        campaign_id: str(StampedRefreshToken.for_user(User.objects.get(pk=owner)).access_token)
        for campaign_id, owner in owners.items()
    }
    api_clients = [
        {"token": tokens[ids[i % len(ids)]],
         "paths": ["/v1/campaigns", f"/v1/campaigns/{ids[i % len(ids)]}/status"]}
        for i in range(clients)
    ]  # fmt: skip
    page_urls = [
        f"ws://127.0.0.1:{port}/ws/campaigns/{ids[i % len(ids)]}/?token={tokens[ids[i % len(ids)]]}"
        for i in range(pages)
    ]
    return api_clients, page_urls


def _start_campaigns(ids: list[int]):
    from apps.campaigns.models import CampaignRun
    from apps.campaigns.services import campaign_start
    from apps.execution.lifecycle import run_engine_start

    for campaign_id in ids:
        campaign_start(campaign_id=campaign_id, actor=None)
    runs = CampaignRun.objects.filter(campaign_id__in=ids)
    for run_id in runs.values_list("pk", flat=True):
        run_engine_start(run_id=run_id)
    _wait_for_trades(runs=runs, campaigns=len(ids))


def measure(*, clients: int, rate: float, pages: int, campaigns: int, seconds: float,
            workers: int) -> None:  # fmt: skip
    from django.conf import settings

    from apps.campaigns.services import campaign_stop
    from apps.localnet import Cluster
    from apps.localnet.server import start_server
    from bench.run_engine import _campaigns, _spawn
    from volumebot.devstack import _free_port

    server = start_server(cluster=Cluster())
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
    port = _free_port()
    web = engine = None
    try:
        ids = _campaigns(campaigns, server.cluster)
        api_clients, page_urls = _clients_and_pages(ids, clients=clients, pages=pages, port=port)
        job = {"host": "127.0.0.1", "port": port, "origin": f"http://127.0.0.1:{port}",
               "seconds": seconds, "rate": rate, "clients": api_clients, "pages": []}  # fmt: skip
        web = start_web(port=port, workers=workers)
        generate({**job, "clients": api_clients[:5], "seconds": 2})  # warm-up
        idle = generate(job)
        print(api_line(idle["api"], clients=clients, rate=rate), flush=True)

        engine = _spawn(workers=os.cpu_count() or 2, threads=8, rpc_url=server.url)
        _start_campaigns(ids)
        busy = generate({**job, "pages": page_urls})
        print(api_line(busy["api"], clients=clients, rate=rate, running=campaigns), flush=True)
        delays = ws_delays(busy["seen"])
        print(f"  ws delay under the API load: p50={_ms(delays, 0.5):.0f} "
              f"p95={_ms(delays, 0.95):.0f} messages={len(delays)}",
              file=sys.stderr, flush=True)  # fmt: skip
        groups = [f"campaign.{campaign_id}" for campaign_id in ids]
        layer = settings.CHANNEL_LAYERS["default"]["CONFIG"]
        quiet = generate({**job, "clients": [], "pages": page_urls, "layer": layer,
                          "groups": groups})  # fmt: skip
        delays = ws_delays(quiet["seen"])
        print(
            f"ws delay p50={_ms(delays, 0.5):.0f} p95={_ms(delays, 0.95):.0f} "
            f"messages={len(delays)} pages={pages} campaigns={campaigns}",
            flush=True,
        )
        print(ws_hops(quiet["seen"], quiet["published"]), file=sys.stderr, flush=True)
        for campaign_id in ids:
            campaign_stop(campaign_id=campaign_id, actor=None, reason="Benchmark over.")
        # Saturation last: with the campaigns stopped, the tier is idle again.
        saturated = generate({**job, "rate": None})
        print(api_line(saturated["api"], clients=clients, rate=None), flush=True)
    finally:
        for process in engine or []:
            process.send_signal(signal.SIGKILL)
            process.wait()
        if web is not None:
            stop_web(web)
        server.stop()


def _wait_for_trades(*, runs, campaigns: int) -> None:
    """Until every campaign has landed a trade (its makers are funded and it is trading)."""
    from apps.execution.models import Execution

    trades = Execution.objects.filter(run__in=runs, side__in=["buy", "sell"], status="landed")
    deadline = time.monotonic() + 180
    while trades.values("run").distinct().count() < campaigns and time.monotonic() < deadline:
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    # A script or dashboard polling its campaign's status every 2 s and its list as often.
    parser.add_argument("--rate", type=float, default=0.5, help="requests/s of each API client")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
    )
    args = parser.parse_args(argv)
    os.environ["TEST_DATABASE_NAME"] = "bench_web"
    from bench.run_engine import _setup_django

    _setup_django()
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    databases = setup_databases(verbosity=0, interactive=False)
    try:
        measure(
            clients=args.clients, rate=args.rate, pages=args.pages, campaigns=args.campaigns,
            seconds=args.seconds, workers=args.workers,
        )  # fmt: skip
    finally:
        connections.close_all()
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
