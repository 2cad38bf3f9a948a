"""`manage.py localnet`: serve the local Solana cluster (JSON-RPC + Jito) over HTTP."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from apps.localnet.app import Faults
from apps.localnet.seed import seed_demo
from apps.localnet.seed_pump import seed_pump_coins
from apps.localnet.server import load_or_create, serve_forever


class Command(BaseCommand):
    help = "Run the localnet (JSON-RPC at /, Jito block engine at /api/v1/bundles)."
    # The localnet needs neither the database nor the URLconf; checks would only slow it down.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8899)
        parser.add_argument(
            "--slot-ms", type=int, default=400, help="slot duration (0: manual clock)"
        )
        parser.add_argument(
            "--confirm-after-slots",
            type=int,
            default=0,
            help="a sent transaction is processed at once and confirmed this many slots later, "
            "as on mainnet (0: confirmed when sent)",
        )
        parser.add_argument(
            "--state-dir",
            default=None,
            help="keep accounts and slot here across restarts (e.g. .devstack/localnet)",
        )
        parser.add_argument(
            "--seed", action="store_true", help="seed the demo token and pools on a fresh state"
        )
        parser.add_argument(
            "--request-budget",
            type=float,
            default=0.0,
            help="answer 429 past this many JSON-RPC requests/s, as a provider does (0: none)",
        )

    def handle(
        self,
        *args,
        host: str,
        port: int,
        slot_ms: int,
        confirm_after_slots: int,
        state_dir: str | None,
        seed: bool,
        request_budget: float,
        **options,
    ):
        directory = Path(state_dir) if state_dir else None
        cluster, restored = load_or_create(
            state_dir=directory, slot_ms=slot_ms, confirm_after_slots=confirm_after_slots
        )
        if seed and not restored:
            demo = seed_demo(cluster)
            self.stdout.write(f"seeded demo token {demo.mint}")
            pump = seed_pump_coins(cluster)
            self.stdout.write(
                f"seeded pump coins: live {pump.live.mint}, migrated {pump.migrated.mint} "
                f"(PumpSwap pool {pump.migrated_pool.pool}), Token-2022 {pump.token2022.mint}, "
                f"cashback {pump.cashback.mint}"
            )
        self.stdout.write(
            f"localnet on http://{host}:{port}, PubSub ws://{host}:{port + 1} "
            f"(state {'restored' if restored else 'new'})"
        )
        self.stdout.flush()
        serve_forever(
            cluster=cluster,
            host=host,
            port=port,
            state_dir=directory,
            faults=Faults(request_budget_per_s=request_budget),
        )
