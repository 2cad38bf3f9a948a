"""The run engine: a campaign's run as jobs that Celery workers execute (DESIGN §5).

Imports run one way: tasks → runner → steps → the shared modules → models, core, chain.

    tasks.py        thin Celery tasks, one per job type (plus `trades`, the batch task)
    runner.py       `job_execute`: lock, claim, the step's handler, the outcome
    jobs.py         create (idempotent by key), enqueue by task name, claim, requeue, re-drive;
                    the exceptions a step raises (NotYet, JobCancelled, JobFailed)
    outcomes.py     how a job ends: compare-and-swap, the step's writes, events, metrics
    steps/          one module per job type, in the order a run meets them:
      distribute.py   maker wallets (keys committed first), then their funding batches
      preflight.py    funded makers, a readable pool, a simulated buy; then the first plan
      plan.py         a planner window: stop conditions, then its trades and the next window
      trade.py        one trade on its own (dry runs, what a batch or bundle handed back)
      batch.py        a slice of trades together: locks, and the jobs the batch takes
      batch_send.py   the batch's build → commit → send → confirm → write
      bundle_send.py  a Jito run's slice as bundles of up to 4 swaps, one tip shared in the ledger
      gather.py       on stop: sell, sweep, and finish the run
    trading.py      one trade: params, fees, pool state, the spec, the amount, its outcome
    sending.py      the idempotent send: resolve earlier attempts, commit, send, confirm
    balances.py     a landed transaction's real balances (getTransaction)
    ledger.py       ledger rows and the run's counters, from those balances
    selectors.py    reads: ledger balances, makers, volume, run stats
    lifecycle.py    `run_engine_start/resume/stop` (called by apps.campaigns.services), and
                    when the engine stops or pauses a run (target, budget, circuit breaker)
    monitor.py      beat: status tick (stats, balance alerts, stuck jobs), reconcile
    realtime.py     the engine's events to the campaign page and to webhook subscribers
    planner.py, domain.py   pure logic: the seeded trade stream, batching, backoff, breaker

Following one trade: `steps/plan.py` creates its job and `jobs.trades_enqueue` sends it in a
slice → `tasks.trades` → `steps/batch.py` (locks, picks) → `steps/batch_send.py` (amount from
`selectors`, spec from `trading`, build and send with `sending`, balances from `balances`) →
`trading.trade_done` (result, ledger rows) → `outcomes.jobs_succeeded` (one write through
`ledger.trade_writes`, events through `realtime`) → `lifecycle.stop_when_reached`. A trade the
batch hands back runs alone: `tasks.trade` → `runner` → `steps/trade.py` → `sending.send_once`
→ the same `trade_done` and `outcomes`.

The campaign's state moves only through `apps.campaigns.transitions`, which never calls the
engine; advisory locks (job, maker wallet) are `apps.core.locking`.
"""
