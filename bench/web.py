"""The web tier under load: API latency for 50 clients, idle and while 10 campaigns run, and how
long a landed trade takes to reach 20 open campaign pages over the WebSocket.

    python -m bench.web [--clients 50] [--pages 20] [--campaigns 10] [--seconds 15]

Prints three lines:

    api clients=<n> rps=<n> p50=<ms> p95=<ms> errors=<n>              (idle)
    api clients=<n> rps=<n> p50=<ms> p95=<ms> errors=<n> campaigns=<n> (while they run)
    ws delay p50=<ms> p95=<ms> messages=<n> pages=<n> campaigns=<n>

The web tier is started the way `make run` starts it, with DEBUG off: uvicorn serving
volumebot.asgi with `--workers $WEB_CONCURRENCY` (default: the number of cores), on the
development settings, against a throw-away database (`bench_web`, created and dropped here)
and this run's own Redis prefixes. Each API client is a user's script: it signs in with a JWT
and, one request after another on one kept-alive connection, reads its campaign list and its
campaign's status (closed loop, no pause: the rate is what the tier sustains, the latency what
a client waits when 50 of them share it). Rate limits are lifted for the bench users (the
throttles still count every request). The campaigns trade on an in-process localnet through
real Celery workers (bench.run_engine's). A page is a `?token=` WebSocket with the site's
Origin, two per campaign; the delay is from the moment the engine recorded a trade as landed
(its execution row's `updated_at`) to the moment a page received the `job_completed` message
naming its signature. The load generators run in their own process, with a hand-rolled
HTTP/1.1 keep-alive client so that they take as little as possible of the cores the tier
runs on; they still share the machine (as do the workers, the localnet, PostgreSQL and Redis),
so the figures are for this machine at this moment: compare runs made one after another.
Not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

LIFTED_RATE = "10000000/min"
# A loaded machine (the bench shares it) can take a minute or more to import the project.
START_TIMEOUT_S = 300


# ---------------------------------------------------------------------------------------------
# The load generators (a spawned process: no Django here)


async def _http_get(reader, writer, host: str, path: str, token: str) -> tuple[int, bytes]:
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body


async def _api_client(
    *, host: str, port: int, token: str, paths: list[str], until: float
) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    reader, writer = await asyncio.open_connection(host, port)
    try:
        index = 0
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                status, _ = await _http_get(reader, writer, f"{host}:{port}", paths[index], token)
            except (OSError, asyncio.IncompleteReadError):
                status = 599  # the connection dropped: count it, and reconnect
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            index = (index + 1) % len(paths)
    finally:
        writer.close()
    return latencies, statuses


async def _api_load(host: str, port: int, clients: list[dict], seconds: float) -> dict:
    until = time.monotonic() + seconds
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            _api_client(host=host, port=port, token=c["token"], paths=c["paths"], until=until)
            for c in clients
        )
    )
    elapsed = time.monotonic() - started
    latencies = sorted(x for result, _ in results for x in result)
    statuses: dict[int, int] = {}
    for _, counts in results:
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + n
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed}


async def _page(*, url: str, origin: str, opened: asyncio.Queue, window: asyncio.Future, seen):
    """One open campaign page: connect, take the snapshot, then note every trade message until
    the window closes."""
    import websockets

    try:
        socket = await websockets.connect(url, origin=origin, max_size=2**22, open_timeout=120)
    except (OSError, TimeoutError, websockets.WebSocketException) as error:
        await opened.put(f"{type(error).__name__}: {error}")
        return
    async with socket:
        await socket.recv()  # the snapshot
        await opened.put(None)
        until = await window
        while (left := until - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(socket.recv(), timeout=left)
            except TimeoutError:
                return
            received = time.time()
            message = json.loads(raw)
            signature = message.get("event", {}).get("signature")
            if message.get("type") == "job_completed" and signature:
                seen.append((signature, received))


def _generator(job: dict, results) -> None:
    """The child process: API clients and/or pages for `seconds`, results back on a queue."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def both():
        # The pages connect first (as they would have been open already), then the window.
        opened: asyncio.Queue = asyncio.Queue()
        window = asyncio.get_running_loop().create_future()
        seen: list = []
        pages = [
            asyncio.create_task(
                _page(url=url, origin=job["origin"], opened=opened, window=window, seen=seen)
            )
            for url in job["pages"]
        ]
        failures = [f for f in [await opened.get() for _ in pages] if f is not None]
        window.set_result(time.monotonic() + job["seconds"])
        api = await _api_load(job["host"], job["port"], job["clients"], job["seconds"])
        await asyncio.gather(*pages)
        return api, seen, failures

    api, seen, failures = asyncio.run(both())
    results.put({"api": api if job["clients"] else None, "seen": seen, "failures": failures})


def generate(job: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_generator, args=(job, results))
    child.start()
    outcome = results.get(timeout=job["seconds"] + 300)
    child.join(30)
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
    """uvicorn as `make run` starts it, with `--workers` processes (WEB_CONCURRENCY)."""
    import httpx

    command = [
        sys.executable, "-m", "uvicorn", "volumebot.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--lifespan", "off",
        "--workers", str(workers),
    ]  # fmt: skip
    process = subprocess.Popen(command, env=_web_environment(port=port), start_new_session=True)  # noqa: S603
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


def api_line(result: dict, *, clients: int, running: int) -> str:
    latencies, statuses = result["latencies"], result["statuses"]
    # Anything but a 200 is an error here (a 401 or 403 means the bench itself is broken).
    errors = sum(n for status, n in statuses.items() if status != 200)
    line = (
        f"api clients={clients} rps={len(latencies) / result['elapsed']:.0f} "
        f"p50={_ms(latencies, 0.50):.0f} p95={_ms(latencies, 0.95):.0f} errors={errors}"
    )
    if running:
        line += f" campaigns={running}"
    others = {status: n for status, n in statuses.items() if status != 200}
    if others:
        print(f"  api answers other than 200: {others}", file=sys.stderr, flush=True)
    return line


def ws_delays(seen: list) -> list[float]:
    """Seconds from each trade's landing (as the engine recorded it) to each page's receipt."""
    from apps.execution.models import Execution

    landed = dict(
        Execution.objects.filter(
            signature__in={signature for signature, _ in seen}, status="landed"
        ).values_list("signature", "updated_at")
    )
    return sorted(
        received - landed[signature].timestamp()
        for signature, received in seen
        if signature in landed
    )


# ---------------------------------------------------------------------------------------------


def measure(*, clients: int, pages: int, campaigns: int, seconds: float, workers: int) -> None:
    from django.conf import settings

    from apps.accounts.models import User
    from apps.accounts.tokens import StampedRefreshToken
    from apps.campaigns.models import Campaign, CampaignRun
    from apps.campaigns.services import campaign_start, campaign_stop
    from apps.execution.lifecycle import run_engine_start
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
        owners = dict(Campaign.objects.filter(pk__in=ids).values_list("pk", "owner"))
        tokens = {
            campaign_id: str(StampedRefreshToken.for_user(User.objects.get(pk=owner)).access_token)
            for campaign_id, owner in owners.items()
        }
        # Client i is campaign i's owner: the list, then the status, again and again.
        api_clients = [
            {
                "token": tokens[ids[i % len(ids)]],
                "paths": ["/v1/campaigns", f"/v1/campaigns/{ids[i % len(ids)]}/status"],
            }
            for i in range(clients)
        ]
        page_urls = [
            f"ws://127.0.0.1:{port}/ws/campaigns/{ids[i % len(ids)]}/"
            f"?token={tokens[ids[i % len(ids)]]}"
            for i in range(pages)
        ]
        job = {"host": "127.0.0.1", "port": port, "origin": f"http://127.0.0.1:{port}"}
        web = start_web(port=port, workers=workers)
        generate({**job, "clients": api_clients[:5], "pages": [], "seconds": 2})  # warm-up
        idle = generate({**job, "clients": api_clients, "pages": [], "seconds": seconds})
        print(api_line(idle["api"], clients=clients, running=0), flush=True)

        engine = _spawn(workers=os.cpu_count() or 2, threads=8, rpc_url=server.url)
        for campaign_id in ids:
            campaign_start(campaign_id=campaign_id, actor=None)
        runs = CampaignRun.objects.filter(campaign_id__in=ids)
        for run_id in runs.values_list("pk", flat=True):
            run_engine_start(run_id=run_id)
        _wait_for_trades(runs=runs, campaigns=campaigns)
        busy = generate({**job, "clients": api_clients, "pages": page_urls, "seconds": seconds})
        print(api_line(busy["api"], clients=clients, running=campaigns), flush=True)
        delays = ws_delays(busy["seen"])
        print(
            f"  ws delay under the API load: p50={_ms(delays, 0.5):.0f} "
            f"p95={_ms(delays, 0.95):.0f} messages={len(delays)}",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        quiet = generate({**job, "clients": [], "pages": page_urls, "seconds": seconds})
        delays = ws_delays(quiet["seen"])
        print(
            f"ws delay p50={_ms(delays, 0.5):.0f} p95={_ms(delays, 0.95):.0f} "
            f"messages={len(delays)} pages={pages} campaigns={campaigns}",
            flush=True,
        )
        for campaign_id in ids:
            campaign_stop(campaign_id=campaign_id, actor=None, reason="Benchmark over.")
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
            clients=args.clients, pages=args.pages, campaigns=args.campaigns,
            seconds=args.seconds, workers=args.workers,
        )  # fmt: skip
    finally:
        connections.close_all()
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
