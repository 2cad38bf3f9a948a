"""Job machinery and the idempotent send, driven synchronously (`job_execute`, as a worker
would call it) against the real localnet: idempotency keys, dropped transactions, a crash
between commit and send, transient errors → dead letter → re-drive."""

import time
from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from solders.pubkey import Pubkey

from apps.accounts.models import User
from apps.campaigns.models import CampaignRun
from apps.campaigns.services import campaign_start
from apps.core.chain import rpc_pool
from apps.execution import domain
from apps.execution.jobs import job_create, job_redrive
from apps.execution.lifecycle import run_engine_start
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.runner import job_execute
from apps.execution.sending import build_signed
from apps.execution.steps.distribute import distribute_batch_spec
from apps.execution.steps.plan import plan_backpressure
from apps.wallets.models import Wallet
from tests.factories import ExecutionFactory, JobFactory
from tests.support.engine import drain, held_by_another_worker, wait_for_the_endpoint_to_cool_down

pytestmark = pytest.mark.django_db(transaction=True)
FUNDING = 200_000_000  # PARAMS: 0.2 SOL per maker


def started_run(setup):
    campaign = setup.campaign()
    campaign_start(campaign_id=campaign.pk, actor=setup.user)
    run = CampaignRun.objects.get(campaign=campaign)
    distribute = run_engine_start(run_id=run.pk)
    assert job_execute(job_id=distribute.pk) is None
    return run, Job.objects.get(run=run, idempotency_key=f"run:{run.pk}:distribute:batch-0")


def makers_lamports(setup, run) -> list[int]:
    return [setup.lamports(w.address) for w in Wallet.objects.filter(run_id=run.pk).order_by("id")]


def test_it_creates_a_job_once_per_run_type_and_sequence(setup):
    run, _ = started_run(setup)

    with transaction.atomic():
        first, created = job_create(run_id=run.pk, type="trade_buy", sequence=7, payload={"a": 1})
        again, created_again = job_create(run_id=run.pk, type="trade_buy", sequence=7)

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.payload == {"a": 1}
    assert first.queue == "trade.buy"
    assert Job.objects.filter(idempotency_key=f"run:{run.pk}:trade_buy:7").count() == 1


def test_it_commits_every_maker_key_before_funding_them_in_one_batch(setup):
    run, batch = started_run(setup)

    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker").order_by("id"))
    assert len(makers) == 3 and all(m.encrypted_secret for m in makers)
    assert makers_lamports(setup, run) == [0, 0, 0]  # keys stored, nothing sent yet
    assert batch.payload == {"wallet_ids": [m.pk for m in makers], "lamports": FUNDING}
    funding_before = setup.lamports(setup.wallet.address)

    assert job_execute(job_id=batch.pk) is None

    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.attempts == 1
    assert makers_lamports(setup, run) == [FUNDING] * 3
    [execution] = Execution.objects.filter(job=batch)
    assert execution.status == "landed" and execution.fee_lamports == 5_000
    assert setup.lamports(setup.wallet.address) == funding_before - 3 * FUNDING - 5_000
    entries = {(e.wallet_id, e.kind): e.lamports_delta for e in LedgerEntry.objects.filter(run=run)}
    assert entries == {
        (setup.wallet.pk, "fund"): -3 * FUNDING,
        (setup.wallet.pk, "fee"): -5_000,
        **{(m.pk, "fund"): FUNDING for m in makers},
    }
    run.refresh_from_db()
    assert (run.funded_lamports, run.fees_lamports) == (3 * FUNDING, 5_000)
    # The last batch enqueued the pre-flight, once.
    assert Job.objects.filter(run=run, type="preflight").count() == 1


def test_it_resigns_a_dropped_transaction_only_after_its_blockhash_expired(setup, chain):
    run, batch = started_run(setup)
    funding_before = setup.lamports(setup.wallet.address)
    chain.faults.drop_transactions = True

    countdown = job_execute(job_id=batch.pk)

    assert countdown == 0  # not yet: the dropped transaction expired, a new one follows
    [dropped] = Execution.objects.filter(job=batch)
    assert dropped.status == "expired"
    assert chain.cluster.block_height > dropped.last_valid_block_height
    assert makers_lamports(setup, run) == [0, 0, 0]
    assert setup.lamports(setup.wallet.address) == funding_before
    assert Job.objects.get(pk=batch.pk).status == "queued"

    chain.faults.drop_transactions = False
    assert job_execute(job_id=batch.pk) is None

    first, second = Execution.objects.filter(job=batch).order_by("attempt")
    assert (first.status, second.status) == ("expired", "landed")
    assert second.signature != first.signature and second.blockhash != first.blockhash
    assert makers_lamports(setup, run) == [FUNDING] * 3
    assert setup.lamports(setup.wallet.address) == funding_before - 3 * FUNDING - 5_000
    assert LedgerEntry.objects.filter(run=run, kind="fund").count() == 4
    assert Job.objects.get(pk=batch.pk).status == "succeeded"


def test_it_resends_the_same_bytes_after_a_crash_between_commit_and_send(setup):
    run, batch = started_run(setup)
    # What a worker killed right after committing the signed transaction leaves behind.
    built = build_signed(spec=distribute_batch_spec(batch), rpc=rpc_pool("localnet"))
    ExecutionFactory(
        job=batch, signature=str(built.signature), blockhash=str(built.blockhash),
        last_valid_block_height=built.last_valid_block_height, raw_transaction=built.raw,
        status="signed", side="transfer", fee_lamports=0, wallet=setup.wallet,
    )  # fmt: skip
    Job.objects.filter(pk=batch.pk).update(status="processing", attempts=1)

    assert job_execute(job_id=batch.pk) is None

    [execution] = Execution.objects.filter(job=batch)
    assert execution.signature == str(built.signature)
    assert execution.status == "landed"
    assert makers_lamports(setup, run) == [FUNDING] * 3
    assert Job.objects.get(pk=batch.pk).status == "succeeded"


def test_it_dead_letters_after_transient_errors_and_a_redrive_finishes_the_job(setup, chain):
    run, batch = started_run(setup)
    funding_before = setup.lamports(setup.wallet.address)
    chain.faults.down = True

    countdowns = []
    while (countdown := job_execute(job_id=batch.pk)) is not None:
        countdowns.append(countdown)

    batch.refresh_from_db()
    assert batch.status == "dead" and batch.attempts == domain.MAX_ATTEMPTS
    assert batch.error["code"] == "transient_exhausted"
    assert len(countdowns) == domain.MAX_ATTEMPTS - 1
    # Exponential with jitter: each within [0.5, 1.5] x 2^(n-1) s, capped.
    for n, countdown in enumerate(countdowns, start=1):
        base = min(domain.BACKOFF_CAP_S, 2 ** (n - 1))
        assert 0.5 * base <= countdown <= 1.5 * base
    assert not Execution.objects.filter(job=batch).exists()
    assert setup.lamports(setup.wallet.address) == funding_before

    chain.faults.down = False
    # The operator re-drives once the endpoint is back (its cool-down over).
    wait_for_the_endpoint_to_cool_down()
    job_redrive(job_id=batch.pk)
    assert Job.objects.get(pk=batch.pk).status == "queued"
    assert job_execute(job_id=batch.pk) is None

    batch.refresh_from_db()
    assert batch.status == "succeeded" and batch.error is None
    assert makers_lamports(setup, run) == [FUNDING] * 3
    assert Execution.objects.filter(job=batch, status="landed").count() == 1


def test_it_does_not_run_a_job_another_worker_holds(setup):
    from apps.core.locking import JOB_LOCK, advisory_lock
    from apps.execution.jobs import HELD_RETRY_S

    _run, batch = started_run(setup)
    with held_by_another_worker(JOB_LOCK, batch.pk):
        # Still queued (the holder may have finished it just before a re-drive): the task
        # comes back in a moment instead of being lost. Nothing ran.
        assert job_execute(job_id=batch.pk) == HELD_RETRY_S
        assert Job.objects.get(pk=batch.pk).status == "queued"
        assert not Execution.objects.filter(job=batch).exists()
        # A job the holder is working on (`processing`): the holder re-queues it if needed.
        Job.objects.filter(pk=batch.pk).update(status="processing")
        assert job_execute(job_id=batch.pk) is None
        assert Job.objects.get(pk=batch.pk).status == "processing"
    with advisory_lock(JOB_LOCK, batch.pk) as held:
        assert held  # released with the holder's session


def test_a_trade_waits_for_its_busy_maker_wallet_then_re_queues(setup, settings):
    from apps.core.locking import WALLET_LOCK, advisory_lock

    settings.EXECUTION_WALLET_WAIT_MS = 200
    campaign = setup.campaign()
    run = setup.start(campaign)
    drain(run, types=("distribute", "preflight"))
    [plan0] = Job.objects.filter(run=run, type="plan")
    job_execute(job_id=plan0.pk)
    trade = Job.objects.filter(run=run, type="trade_buy").order_by("id").first()
    # Another worker has a transaction of this maker in flight.
    with held_by_another_worker(WALLET_LOCK, trade.payload["wallet_id"]):
        started = time.monotonic()
        assert job_execute(job_id=trade.pk) == 0.3  # waited, then back to the queue
        assert time.monotonic() - started >= 0.2
        trade.refresh_from_db()
        assert trade.status == "queued" and trade.attempts == 0
        assert not Execution.objects.filter(job=trade).exists()
    # The session's lock timeout is back to none.
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"
    with advisory_lock(WALLET_LOCK, trade.payload["wallet_id"], wait_ms=200) as held:
        assert held  # released with the holder's session
    assert job_execute(job_id=trade.pk) is None
    assert Job.objects.get(pk=trade.pk).status == "succeeded"


def test_reconcile_pauses_a_run_whose_ledger_differs_from_the_chain(setup, chain):
    from apps.core.models import AuditEvent
    from apps.execution.monitor import run_reconcile, runs_status_tick
    from apps.localnet.seed import fund

    run, batch = started_run(setup)
    job_execute(job_id=batch.pk)
    Job.objects.filter(run=run, type="preflight").update(status="cancelled")  # keep it still
    assert run_reconcile(run_id=run.pk) == []
    assert runs_status_tick()["runs"] == 1
    run.refresh_from_db()
    assert run.summary["jobs"] == {"succeeded": 2, "cancelled": 1}

    maker = Wallet.objects.filter(run_id=run.pk).order_by("id").first()
    fund(chain.cluster, address=Pubkey.from_string(maker.address), lamports=FUNDING + 1)

    mismatches = run_reconcile(run_id=run.pk)

    assert mismatches == [
        {"wallet": maker.address, "ledger": [FUNDING, 0], "chain": [FUNDING + 1, 0]}
    ]
    run.refresh_from_db()
    assert run.status == "paused"
    assert run.status_reason == "Safety mode: the ledger differs from the chain for 1 wallet(s)."
    assert run.summary["reconcile_mismatches"] == mismatches
    assert AuditEvent.objects.filter(
        action="run.reconcile_mismatch", entity_id=str(run.pk)
    ).exists()


def test_the_planner_plans_nothing_more_today_once_the_daily_cap_is_reached(setup):
    campaign = setup.campaign(daily_volume_cap_sol="0.01", target_volume_sol="1")
    run = setup.start(campaign)
    drain(run, types=("distribute", "preflight"))
    [plan0] = Job.objects.filter(run=run, type="plan")
    job_execute(job_id=plan0.pk)
    first = Job.objects.filter(run=run, type="trade_buy").order_by("id").first()
    job_execute(job_id=first.pk)  # one landed buy: at least 0.01 SOL traded today
    assert Job.objects.get(pk=first.pk).status == "succeeded"
    planned = Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"]).count()
    plan1 = Job.objects.get(run=run, idempotency_key=f"run:{run.pk}:plan:1")

    job_execute(job_id=plan1.pk)

    assert Job.objects.get(pk=plan1.pk).result == {
        "window": 1, "daily_cap_reached": True
    }  # fmt: skip
    assert Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"]).count() == planned
    plan2 = Job.objects.get(run=run, idempotency_key=f"run:{run.pk}:plan:2")
    assert plan2.scheduled_for.hour == 0 and plan2.scheduled_for.minute == 0
    assert plan2.scheduled_for > plan1.created_at


def test_the_planner_plans_nothing_while_earlier_trades_are_overdue(setup, settings):
    campaign = setup.campaign()
    run = setup.start(campaign)
    drain(run, types=("distribute", "preflight"))
    [plan0] = Job.objects.filter(run=run, type="plan")
    job_execute(job_id=plan0.pk)
    trades = Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"])
    planned = trades.count()
    assert planned > 0
    # The workers fell behind: window 0's trades are still queued a whole window after their time.
    late = timezone.now() - timedelta(milliseconds=2 * settings.EXECUTION_PLAN_WINDOW_MS)
    trades.update(scheduled_for=late)
    plan1 = Job.objects.get(run=run, idempotency_key=f"run:{run.pk}:plan:1")

    # The window's task waits a window's time, with nothing written: no trades on top of the
    # backlog, no next window, the plan state as it was, the job queued and not claimed, but
    # touched, so the stuck-job beat does not take it for lost.
    plan_state = CampaignRun.objects.get(pk=run.pk).summary["plan"]
    touched = plan1.updated_at
    assert plan_backpressure(job_id=plan1.pk) == settings.EXECUTION_PLAN_WINDOW_MS / 1000
    plan1.refresh_from_db()
    assert (plan1.status, plan1.attempts) == ("queued", 0)
    assert plan1.updated_at > touched
    assert trades.count() == planned
    assert not Job.objects.filter(idempotency_key=f"run:{run.pk}:plan:2").exists()
    assert CampaignRun.objects.get(pk=run.pk).summary["plan"] == plan_state
    # Once the backlog is worked off, the window plans again (whether its short span holds a
    # trade depends on the run's random gaps) and hands over to the next one.
    trades.update(status="cancelled")
    assert plan_backpressure(job_id=plan1.pk) is None
    assert job_execute(job_id=plan1.pk) is None
    assert Job.objects.get(pk=plan1.pk).status == "succeeded"
    assert CampaignRun.objects.get(pk=run.pk).summary["plan_window"] == 2
    assert Job.objects.filter(idempotency_key=f"run:{run.pk}:plan:2").exists()


def test_a_sell_only_run_funds_nothing_and_goes_straight_to_the_gather(setup):
    campaign = setup.campaign(mode="sell_only", buy_percent=0, target_volume_sol=None)
    funding_before = setup.lamports(setup.wallet.address)
    run = setup.start(campaign)

    drain(run, types=("distribute", "preflight", "funds_gather"))

    campaign.refresh_from_db()
    assert campaign.status == "stopped"
    assert campaign.status_reason == (
        "Sell-only run: selling what the makers hold; funds gathered."
    )
    assert not Job.objects.filter(run=run, type__in=["plan", "trade_buy", "trade_sell"]).exists()
    assert not Execution.objects.filter(run=run).exists()
    assert setup.lamports(setup.wallet.address) == funding_before


def test_runs_planned_before_maker_ids_were_kept_get_them_from_the_migration(setup):
    migration = import_module("apps.execution.migrations.0004_summary_maker_ids")
    run = setup.start(setup.campaign())
    drain(run, types=("distribute", "preflight"))
    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker").order_by("id"))
    assert CampaignRun.objects.get(pk=run.pk).summary["maker_ids"] == [m.pk for m in makers]
    # A run planned by the engine before the planner read its makers from the summary.
    summary = CampaignRun.objects.get(pk=run.pk).summary
    del summary["maker_ids"]
    CampaignRun.objects.filter(pk=run.pk).update(summary=summary)

    migration.add_maker_ids(apps, None)

    assert CampaignRun.objects.get(pk=run.pk).summary["maker_ids"] == [m.pk for m in makers]
    [plan0] = Job.objects.filter(run=run, type="plan")
    assert job_execute(job_id=plan0.pk) is None
    trades = Job.objects.filter(run=run, type__in=["trade_buy", "trade_sell"])
    assert trades.exists()
    assert {job.payload["wallet_id"] for job in trades} <= {m.pk for m in makers}


def test_jobs_made_before_steps_were_columns_get_them_from_the_migration(setup):
    migration = import_module("apps.execution.migrations.0005_job_step_window_preflight")
    run = setup.start(setup.campaign())
    drain(run, types=("distribute", "preflight"))
    [batch] = Job.objects.filter(run=run, type="distribute", step="batch")
    [plan0] = Job.objects.filter(run=run, type="plan")
    maker = Wallet.objects.filter(run_id=run.pk, kind="maker").order_by("id").first()
    # The rows as the engine wrote them before: the pre-flight typed `gather`, the steps only
    # in the keys (a gather's sell, sweep and finish made up here, cancelled so none runs).
    Job.objects.filter(run=run, type="preflight").update(
        type="gather", idempotency_key=f"run:{run.pk}:gather:0"
    )
    Job.objects.filter(run=run).update(step="main", window=None)
    for sequence in (f"sell-{maker.pk}", f"sweep-{maker.pk}", "finish"):
        JobFactory(run=run, type="funds_gather", status="cancelled", sequence=sequence)

    with connection.cursor() as cursor:
        for statement in migration.FORWARD:
            cursor.execute(statement)

    rows = Job.objects.filter(run=run).exclude(type__in=["trade_buy", "trade_sell"])
    assert sorted(rows.values_list("type", "step", "window", "payload__wallet_id")) == sorted([
        ("distribute", "main", None, None),
        ("distribute", "batch", None, None),
        ("preflight", "main", None, None),
        ("plan", "main", 0, None),
        ("funds_gather", "sell", None, maker.pk),
        ("funds_gather", "sweep", None, maker.pk),
        ("funds_gather", "finish", None, None),
    ])  # fmt: skip
    assert Job.objects.get(pk=batch.pk).payload == batch.payload  # untouched
    # The pre-flight's key follows its type: creating it again is still the same job.
    with transaction.atomic():
        preflight, created = job_create(run_id=run.pk, type="preflight", sequence=0)
    assert not created and preflight.idempotency_key == f"run:{run.pk}:preflight:0"
    # The planner finds its window in the column.
    assert job_execute(job_id=plan0.pk) is None
    assert Job.objects.get(pk=plan0.pk).result == {"window": 0, "daily_cap_reached": False}


def test_a_planner_window_on_a_network_without_a_request_budget_reads_no_owner(setup, settings):
    """The fair share needs the run's owner (their cap) only when the network has a budget."""
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": ""}
    run = setup.start(setup.campaign())
    drain(run, types=("distribute", "preflight"))
    [plan0] = Job.objects.filter(run=run, type="plan")

    with CaptureQueriesContext(connection) as queries:
        assert job_execute(job_id=plan0.pk) is None

    assert Job.objects.get(pk=plan0.pk).status == "succeeded"
    assert Job.objects.filter(run=run, type__in=Job.TRADE_TYPES).exists()
    users = connection.ops.quote_name(User._meta.db_table)
    assert not [query["sql"] for query in queries if users in query["sql"]]
