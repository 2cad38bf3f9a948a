"""A local Solana cluster for development and tests (LiteSVM + JSON-RPC + Jito + venues).

Which programs run for real and which are emulated (this list is the localnet's answer to
"what am I trading against"; the README repeats it):

Real programs (their own code executes in LiteSVM, the actual runtime):
- System, SPL Token, Token-2022, Associated Token, Memo and Compute Budget (LiteSVM's builds),
  with signatures' fee accounting, rent, compute-unit metering and priority fees, and the
  atomicity of every transaction;
- Raydium AMM v4 (675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8) and Raydium CPMM
  (CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C): the venues' own binaries, vendored in
  `programs/` with their provenance and licence (PROVENANCE.md); each file's sha256 is checked
  before it is loaded and a mismatch stops the cluster (`ProgramIntegrityError`). The AMM v4
  build (2025-06) predates the source's 2025-08 fee rounding: on swaps under 200 raw units it
  charges no fee where the current program and the platform's quote charge one unit.

Emulated by the localnet itself, because no build of the real thing can be had or shipped:
- pump.fun (6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P) and PumpSwap
  (pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA) `buy`/`sell`: no public build of either
  program exists; emulated at their real program ids and instruction layouts by rewriting them
  into real transfers (see `dex_emulation`). They check every account the official IDL lists
  (`emulation/anchor_idl`) and answer with Anchor's and the programs' own error codes. Logs
  and inner instructions show those transfers, not the venue's own;
- signature verification (done by us before execution; LiteSVM runs with sigverify off),
  duplicate detection (`AlreadyProcessed`, from our own status map) and the blockhash window
  (a blockhash per slot, valid for 150 slots; the clock advances a slot every 400 ms by
  default, or on demand): a single node has no gossip or banks to do it;
- the JSON-RPC node (answers built with solders' response types); `getTransaction` is served
  from our own record of each landed transaction (fee, err, pre/post balances and token
  balances, logs);
- the Jito block engine at `/api/v1/bundles` (1-5 transactions, in order, all-or-nothing
  including fees, a tip to a tip account required, bundle id = sha256 of the signatures);
- persistence: `Cluster.save/load` keep accounts and the slot (not transaction history);
  program binaries are loaded again from `programs/` at start.

- the PubSub websocket on the RPC port + 1 (`pubsub.py`): account, program, signature, logs,
  slot and root subscriptions, notified per commitment as the slot clock advances;
- jsonParsed and the other encodings a node answers with (`encoding.py`, `parsed.py`), and
  explorer reads (getBlock, getBlockTime, getSignaturesForAddress).

Not supported: address lookup tables, CPI into the emulated venues, inner instructions in
transaction metadata.

Entry points: `Cluster`, `create_app` (ASGI, in-process tests), `start_server` (HTTP in a
background thread), `seed.seed_token` / `seed.seed_demo`, `seed_pump.seed_pump_coins` (a live
curve, a completed one with its PumpSwap pool, a Token-2022 coin, a cashback coin),
`python manage.py localnet`.
"""

from apps.localnet.app import Faults, create_app
from apps.localnet.cluster import Cluster
from apps.localnet.server import RunningLocalnet, serve_forever, start_server

__all__ = ["Cluster", "Faults", "RunningLocalnet", "create_app", "serve_forever", "start_server"]
