"""The engine on a localnet that confirms as a mainnet node does: a send is answered at once,
the transaction is processed, and it reaches `confirmed` only some slots later (statuses,
getTransaction and signature notifications follow it). By subscription and by polling, a run
still completes with every trade booked from its confirmed transaction."""

import pytest
from solders.signature import Signature

from apps.execution.models import Execution
from tests.support.engine import run_to_completion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def confirm_later(chain):
    """The engine's localnet confirms 3 slots (60 ms) after a send, for this test."""
    chain.cluster.confirm_after_slots = 3
    yield chain
    chain.cluster.confirm_after_slots = 0


@pytest.mark.parametrize("by_subscription", [True, False])
def test_a_run_confirms_its_trades_once_the_node_confirms_them(
    setup, workers, confirm_later, settings, by_subscription
):
    settings.EXECUTION_CONFIRM_BY_SUBSCRIPTION = by_subscription
    campaign = setup.campaign(maker_count=2, concurrency_cap=2, target_volume_sol="0.1")

    run = run_to_completion(setup, campaign)

    executions = Execution.objects.filter(run=run)
    assert executions.exists()
    assert set(executions.values_list("status", flat=True)) == {Execution.Status.LANDED}
    cluster = confirm_later.cluster
    for execution in executions:
        record = cluster.status(Signature.from_string(execution.signature))
        # Booked from the transaction the node confirmed: its slot, and the fee it charged.
        assert (execution.slot, execution.fee_lamports) == (record.slot, record.fee)
        assert cluster.is_confirmed(record)
    assert run.summary["left_in_makers"] == {}
    assert run.volume_lamports >= 100_000_000
