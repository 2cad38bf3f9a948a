"""A local Solana cluster for development and tests (LiteSVM + JSON-RPC + Jito + DEX emulation).

Runs for real (LiteSVM, the actual runtime): signatures' fee accounting, rent, the System,
SPL Token, Token-2022, Associated Token, Memo and Compute Budget programs, compute-unit
metering and priority fees, atomicity of every transaction.

Emulated by the localnet itself:
- signature verification (done by us before execution; LiteSVM runs with sigverify off),
  duplicate detection (`AlreadyProcessed`, from our own status map) and the blockhash window
  (a blockhash per slot, valid for 150 slots; the clock advances a slot every 400 ms by
  default, or on demand);
- the JSON-RPC node (answers built with solders' response types); `getTransaction` is served
  from our own record of each landed transaction (fee, err, pre/post balances and token
  balances, logs);
- the Jito block engine at `/api/v1/bundles` (1-5 transactions, in order, all-or-nothing
  including fees, a tip to a tip account required, bundle id = sha256 of the signatures);
- the DEX programs — Raydium AMM v4 `swap_base_in`, pump.fun `buy`/`sell` and PumpSwap
  `buy`/`sell` — at their real program ids and instruction layouts, rewritten into real
  transfers (see `dex_emulation`). The pump programs (`emulation/`) check every account the
  official IDL lists (`emulation/anchor_idl`) and answer with Anchor's and the programs' own
  error codes. Logs and inner instructions show those transfers, not the venue's own.
- persistence: `Cluster.save/load` keep accounts and the slot (not transaction history).

Not supported: address lookup tables, the PubSub websocket, CPI into the emulated venues.

Entry points: `Cluster`, `create_app` (ASGI, in-process tests), `start_server` (HTTP in a
background thread), `seed.seed_token` / `seed.seed_demo`, `seed_pump.seed_pump_coins` (a live
curve, a completed one with its PumpSwap pool, a Token-2022 coin, a cashback coin),
`python manage.py localnet`.
"""

from apps.localnet.app import Faults, create_app
from apps.localnet.cluster import Cluster
from apps.localnet.server import RunningLocalnet, serve_forever, start_server

__all__ = ["Cluster", "Faults", "RunningLocalnet", "create_app", "serve_forever", "start_server"]
