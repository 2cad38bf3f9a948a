"""bench.web's load generators, run in a spawned process of their own (no Django here): API
clients and open campaign pages, with a hand-rolled HTTP/1.1 keep-alive client so that they take
as little as possible of the cores the web tier runs on.

Two kinds of API load:
- paced (open loop): each client sends its next request when it is due, `rate` per second with
  a random phase, whether or not the previous one has answered (on another connection then);
  a request's latency counts from when it was due, so a stalled tier shows up in full. This is
  what an API client of the platform does: a script or a dashboard polling its campaigns.
- saturation (closed loop): each client sends its next request as soon as the previous one
  answered; the rate is what the tier sustains, and the latency is only `clients / rate`.
Every request has a timeout (`REQUEST_TIMEOUT_S`): a tier that hangs is counted, not waited on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time

REQUEST_TIMEOUT_S = 30.0
TIMED_OUT = 598  # the request did not answer within REQUEST_TIMEOUT_S
DROPPED = 599  # the connection failed


async def _http_get(reader, writer, host: str, path: str, token: str) -> int:
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
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status


class _Connections:
    """A client's kept-alive connections: one when it waits for each answer, more when it sends
    before the previous answer came (paced)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.idle: list = []

    async def get(self, path: str, token: str) -> int:
        pair = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        try:
            status = await asyncio.wait_for(
                _http_get(*pair, f"{self.host}:{self.port}", path, token), REQUEST_TIMEOUT_S
            )
        except TimeoutError:
            pair[1].close()
            return TIMED_OUT
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pair[1].close()
            return DROPPED
        self.idle.append(pair)
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


class _Tally:
    def __init__(self):
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}

    def add(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def _paced_client(client: dict, *, host: str, port: int, rate: float, until: float,
                        tally: _Tally) -> None:  # fmt: skip
    connections, paths, sent = _Connections(host, port), client["paths"], []

    async def one(path: str, due: float) -> None:
        status = await connections.get(path, client["token"])
        tally.add(status, time.monotonic() - due)

    due = time.monotonic() + random.random() / rate
    index = 0
    while due < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent.append(asyncio.create_task(one(paths[index % len(paths)], due)))
        index, due = index + 1, due + 1 / rate
    await asyncio.gather(*sent)
    connections.close()


async def _closed_client(client: dict, *, host: str, port: int, until: float,
                         tally: _Tally) -> None:  # fmt: skip
    connections, paths, index = _Connections(host, port), client["paths"], 0
    while time.monotonic() < until:
        started = time.monotonic()
        status = await connections.get(paths[index % len(paths)], client["token"])
        tally.add(status, time.monotonic() - started)
        index += 1
    connections.close()


async def api_load(*, host: str, port: int, clients: list[dict], seconds: float,
                   rate: float | None) -> dict:  # fmt: skip
    """`clients` for `seconds`: paced at `rate` requests/s each, or closed loop (None)."""
    tally, started = _Tally(), time.monotonic()
    until = started + seconds
    if rate:
        runs = [_paced_client(c, host=host, port=port, rate=rate, until=until, tally=tally)
                for c in clients]  # fmt: skip
    else:
        runs = [_closed_client(c, host=host, port=port, until=until, tally=tally) for c in clients]
    await asyncio.gather(*runs)
    return {
        "latencies": sorted(tally.latencies),
        "statuses": tally.statuses,
        "elapsed": time.monotonic() - started,
    }


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
        with contextlib.suppress(TimeoutError, websockets.WebSocketException):
            await asyncio.wait_for(socket.recv(), REQUEST_TIMEOUT_S)  # the snapshot
        await opened.put(None)
        until = await window
        while (left := until - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(socket.recv(), timeout=left)
            except (TimeoutError, websockets.WebSocketException):
                return
            received = time.time()
            message = json.loads(raw)
            signature = message.get("event", {}).get("signature")
            if message.get("type") == "job_completed" and signature:
                seen.append((signature, received))


async def _listen(layer_config: dict, groups: list[str], published: dict, ready) -> None:
    """Note when each trade's `job_completed` reaches the campaigns' channel groups, as the web
    tier's feeds receive it (in this process, on the clock the pages are timed with)."""
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(**layer_config)
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    ready.set_result(None)
    while True:
        message = await layer.receive(channel)
        if message.get("event") == "job_completed" and message.get("signature"):
            published.setdefault(message["signature"], time.time())


def run(job: dict, results) -> None:
    """The spawned process: the pages connect first (as they would have been open already),
    then the API clients and the pages run for `seconds`; results back on the queue."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def both():
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
        published: dict[str, float] = {}
        if job.get("groups"):
            ready = asyncio.get_running_loop().create_future()
            listener = asyncio.create_task(_listen(job["layer"], job["groups"], published, ready))
            await asyncio.wait_for(ready, REQUEST_TIMEOUT_S)
        window.set_result(time.monotonic() + job["seconds"])
        api = None
        if job["clients"]:
            api = await api_load(host=job["host"], port=job["port"], clients=job["clients"],
                                 seconds=job["seconds"], rate=job.get("rate"))  # fmt: skip
        await asyncio.gather(*pages)
        if job.get("groups"):
            listener.cancel()
        return api, seen, published, failures

    api, seen, published, failures = asyncio.run(both())
    results.put({"api": api, "seen": seen, "published": published, "failures": failures})
