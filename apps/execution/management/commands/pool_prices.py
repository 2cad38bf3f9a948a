"""`manage.py pool_prices`: the live pool price subscriber (one per deployment)."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.execution.prices import price_feed_run


class Command(BaseCommand):
    help = (
        "Follow the pools of active campaigns over the network's PubSub websocket and publish "
        "their live prices (cache and campaign pages)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--network", default=settings.SOLANA_DEFAULT_NETWORK)
        parser.add_argument(
            "--refresh", type=float, default=5.0, help="seconds between looks at which pools"
        )

    def handle(self, *args, network: str, refresh: float, **options):
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            self.stdout.write(f"pool_prices following {network}")
            self.stdout.flush()
            await price_feed_run(network=network, stop=stop, refresh_s=refresh)

        asyncio.run(main())
