"""Trades in batches (`trades_execute`), driven synchronously against the real localnet: a
planner slice goes out together and lands once per job with ledger = chain; trades the batch
cannot take as they are, and transactions it cannot see confirmed, go to their own tasks,
which resolve them by signature."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from apps.core import realtime
from apps.core.locking import JOB_LOCK, WALLET_LOCK
from apps.execution.jobs import HELD_RETRY_S, trade_slices
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.runner import job_execute
from apps.execution.steps import batch, batch_send
from apps.execution.steps.batch import trades_execute
from apps.wallets.models import Wallet
from tests.factories import ExecutionFactory
from tests.support.engine import drain, held_by_another_worker, wait_for_the_endpoint_to_cool_down

pytestmark = pytest.mark.django_db(transaction=True)
TRADES = ("trade_buy", "trade_sell")


def planned_run(setup, **params):
    """A started run with its makers funded and its first window planned; its buys, one per
    maker (the first window starts with a buy for each)."""
    run = setup.start(setup.campaign(**params))
    drain(run, types=("distribute", "preflight"))
    [plan0] = Job.objects.filter(run=run, type="plan")
    job_execute(job_id=plan0.pk)
    buys, makers = [], set()
    for job in Job.objects.filter(run=run, type="trade_buy").order_by("scheduled_for", "pk"):
        if job.payload["wallet_id"] not in makers:
            makers.add(job.payload["wallet_id"])
            buys.append(job)
    assert len(buys) >= 2
    return run, buys


def ledger_lamports(run, wallet_id) -> int:
    total = LedgerEntry.objects.filter(
        run_id=getattr(run, "pk", run), wallet_id=wallet_id
    ).aggregate(t=Sum("lamports_delta"))
    return total["t"] or 0


def test_a_slice_goes_out_together_and_each_trade_lands_once(setup, django_assert_max_num_queries):
    run, buys = planned_run(setup)
    # One batch costs about 25 statements plus 2 per trade (its outcome's compare-and-swap,
    # its event's subscribers), where one by one a trade costs 23.
    with django_assert_max_num_queries(25 + 2 * len(buys)):
        trades_execute(job_ids=[job.pk for job in buys])

    for job in buys:
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        [execution] = job.executions.all()
        assert execution.status == "landed" and execution.attempt == 1
        assert job.result["signature"] == execution.signature
    # All signed with one blockhash, and the ledger equals the chain for every maker.
    assert len({job.executions.get().blockhash for job in buys}) == 1
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert ledger_lamports(run, maker.pk) == setup.lamports(maker.address)
    run.refresh_from_db()
    assert run.trades_succeeded == len(buys)


def test_a_landed_trade_is_written_in_one_statement_and_published_after_its_writes(
    setup, monkeypatch
):
    """What sits between a trade landing and its event: its landed outcome and amounts in one
    UPDATE of its execution, with the job and the run's totals, then the publish."""
    _, buys = planned_run(setup)
    trace = []
    sent_all = realtime.group_send_all

    async def publish(messages):
        trace.append(("publish", len(messages)))
        await sent_all(messages)

    def statement(execute, sql, params, many, context):
        trace.append(("sql", sql.split(" SET ")[0] if sql.startswith("UPDATE") else sql[:6]))
        return execute(sql, params, many, context)

    monkeypatch.setattr(realtime, "group_send_all", publish)
    with connection.execute_wrapper(statement):
        trades_execute(job_ids=[job.pk for job in buys])

    after_send = trace[trace.index(("sql", 'UPDATE "execution_execution"')) + 1 :]
    assert after_send[after_send.index(("publish", len(buys))) - 4 :][:5] == [
        ("sql", 'UPDATE "execution_job"'),  # the compare-and-swap of the outcomes
        ("sql", "INSERT"),  # the ledger rows
        ("sql", 'UPDATE "execution_execution"'),  # landed outcome and amounts, once
        ("sql", 'UPDATE "campaigns_campaignrun"'),  # the run's totals
        ("publish", len(buys)),  # on commit, after all of them
    ]
    assert after_send.count(("sql", 'UPDATE "execution_execution"')) == 1
    for job in buys:
        execution = Job.objects.get(pk=job.pk).executions.get()
        assert execution.status == "landed" and execution.slot and execution.fee_lamports > 0
        assert execution.sol_in_lamports > 0 and execution.latency_ms is not None


def test_a_batch_fills_up_with_the_trades_of_other_runs_that_are_due(setup):
    run, buys = planned_run(setup)
    other, firsts = planned_run(setup, seed=12)
    # A dry run's trades are simulated one by one, never in a batch.
    dry, simulated = planned_run(setup, seed=13, mode="dry_run")
    planned = Job.objects.filter(run=other, type__in=TRADES)
    # The other runs are a minute behind: every trade of their first window is due (in order).
    Job.objects.filter(run__in=[other, dry], type__in=TRADES).update(
        scheduled_for=F("scheduled_for") - timedelta(minutes=1)
    )
    held, not_due, *due = firsts
    later = planned.exclude(pk__in=[job.pk for job in firsts])
    assert later.exists()
    # One maker's next trade is not due yet (so neither are its later ones), and another
    # worker holds one of them right now.
    Job.objects.filter(pk=not_due.pk).update(scheduled_for=timezone.now() + timedelta(hours=1))
    with held_by_another_worker(JOB_LOCK, held.pk):
        trades_execute(job_ids=[job.pk for job in buys])

    # The batch took the due trades of the other run that come first for their makers.
    for job in [*buys, *due]:
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        assert job.executions.get().status == "landed"
    # Left as they are for their own tasks: the held one, the one not due, every maker's later
    # trades (a maker's trades go in their planned order) and the dry run's.
    for job in [held, not_due, *later, *simulated]:
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("queued", 0)
        assert not job.executions.exists()
    # One blockhash for the whole batch; ledger = chain for every maker of both runs.
    executions = Execution.objects.filter(job__in=[*buys, *due])
    assert len({execution.blockhash for execution in executions}) == 1
    for maker in Wallet.objects.filter(run_id__in=[run.pk, other.pk]):
        assert ledger_lamports(maker.run_id, maker.pk) == setup.lamports(maker.address)
    for each, count in ((run, len(buys)), (other, len(due))):
        each.refresh_from_db()
        assert (each.trades_succeeded, each.trades_total) == (count, count)


def test_a_trade_of_the_slice_another_worker_holds_is_looked_at_again(setup, monkeypatch):
    _, buys = planned_run(setup)
    held, *rest = buys
    sent = []
    monkeypatch.setattr(batch, "trades_send", lambda ids, **options: sent.append((ids, options)))
    with held_by_another_worker(JOB_LOCK, held.pk):
        trades_execute(job_ids=[job.pk for job in buys])

    assert sent == [([held.pk], {"retries": 0, "countdown": HELD_RETRY_S})]
    assert Job.objects.get(pk=held.pk).status == "queued"
    for job in rest:
        assert Job.objects.get(pk=job.pk).status == "succeeded"


@pytest.mark.parametrize("retries_left", [True, False])
def test_a_busy_maker_waits_for_a_later_batch_and_a_tried_trade_goes_to_its_own_task(
    setup, settings, retries_left
):
    _, buys = planned_run(setup)
    busy, tried, *rest = buys
    ExecutionFactory(
        job=tried, status="expired", fee_lamports=0, sol_in_lamports=tried.payload["lamports"],
        wallet_id=tried.payload["wallet_id"], last_valid_block_height=0,
    )  # fmt: skip
    retries = 0 if retries_left else settings.EXECUTION_BATCH_RETRIES
    # Another worker has this maker's transaction in flight.
    with held_by_another_worker(WALLET_LOCK, busy.payload["wallet_id"]):
        trades_execute(job_ids=[job.pk for job in buys], retries=retries)

    for job in (busy, tried):
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("queued", 0)  # untouched
    assert not busy.executions.exists()
    assert tried.executions.count() == 1
    for job in rest:
        assert Job.objects.get(pk=job.pk).status == "succeeded"
    # The tried trade's own task (the single-job path) resolves its attempt and sends anew.
    assert job_execute(job_id=tried.pk) is None
    # The busy maker's trade: in a later batch while it has retries, else its own task.
    if retries_left:
        trades_execute(job_ids=[busy.pk], retries=1)
    else:
        assert job_execute(job_id=busy.pk) is None
    for job in (busy, tried):
        assert Job.objects.get(pk=job.pk).status == "succeeded"
        assert job.executions.filter(status="landed").count() == 1


def sent_and_left_to_their_own_tasks(buys) -> dict[int, str]:
    """Each job is back in the queue with its attempt kept and its transaction `sent` (the row
    committed before the send); returns their signatures."""
    signatures = {}
    for job in buys:
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("queued", 0)
        [execution] = job.executions.all()
        assert execution.status == "sent"
        signatures[job.pk] = execution.signature
    return signatures


def each_lands_once_through_its_own_task(setup, run, buys, signatures) -> None:
    """Each job's own task resolves its transaction by signature (sending the same bytes again
    while the blockhash is valid): the same signature lands, once, and ledger = chain."""
    for job in buys:
        assert job_execute(job_id=job.pk) is None
        job.refresh_from_db()
        assert job.status == "succeeded", job.error
        [execution] = job.executions.all()
        assert (execution.status, execution.signature) == ("landed", signatures[job.pk])
    for maker in Wallet.objects.filter(run_id=run.pk):
        assert ledger_lamports(run, maker.pk) == setup.lamports(maker.address)


def test_a_dropped_transaction_of_a_batch_lands_once_through_its_own_task(setup, chain, settings):
    settings.EXECUTION_BATCH_CONFIRM_S = 0.3
    run, buys = planned_run(setup)
    chain.faults.drop_transactions = True
    trades_execute(job_ids=[job.pk for job in buys])
    chain.faults.drop_transactions = False

    signatures = sent_and_left_to_their_own_tasks(buys)
    each_lands_once_through_its_own_task(setup, run, buys, signatures)


def test_an_rpc_outage_while_a_batch_confirms_leaves_its_trades_to_their_own_tasks(
    setup, chain, monkeypatch
):
    run, buys = planned_run(setup)
    confirm = batch_send.await_landings

    async def outage(**kwargs):
        chain.faults.down = True  # the endpoint goes away right after the sends
        return await confirm(**kwargs)

    monkeypatch.setattr(batch_send, "await_landings", outage)
    trades_execute(job_ids=[job.pk for job in buys])  # no error out of the task
    chain.faults.down = False

    signatures = sent_and_left_to_their_own_tasks(buys)
    wait_for_the_endpoint_to_cool_down()
    each_lands_once_through_its_own_task(setup, run, buys, signatures)


def test_the_planner_slices_a_window_by_time_and_maker(settings):
    settings.EXECUTION_BATCH_SPREAD_MS, settings.EXECUTION_BATCH_MAX = 250, 3
    start = timezone.now()

    def job(pk, ms, wallet):
        return Job(
            pk=pk, payload={"wallet_id": wallet}, scheduled_for=start + timedelta(milliseconds=ms)
        )

    jobs = [
        job(1, 0, "a"), job(2, 100, "b"), job(3, 120, "a"),  # a again: a new slice
        job(4, 200, "c"), job(5, 300, "d"),  # the slice began at 120 ms
        job(6, 400, "e"), job(7, 410, "f"), job(8, 420, "g"), job(9, 430, "h"),  # at most 3
    ]  # fmt: skip
    slices = trade_slices(list(reversed(jobs)))
    assert [[j.pk for j in part] for part in slices] == [[1, 2], [3, 4, 5], [6, 7, 8], [9]]
