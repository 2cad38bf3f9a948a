"""The cost estimate against what a run really spends: a small campaign through real workers on
the localnet, its ledger beside the estimate made before it started (the run replays the same
seeded plan on the same pool, nobody else trading)."""

import pytest

from apps.campaigns.selectors import campaign_estimate
from apps.execution.models import Execution, Job
from tests.chain import idl
from tests.support.engine import run_to_completion

pytestmark = pytest.mark.django_db(transaction=True)

SOL = 1_000_000_000


@pytest.mark.parametrize(
    ("dex", "priority"), [("raydium_amm_v4", 0), ("raydium_cpmm", 200_000), ("pumpswap", 0)]
)
def test_the_estimate_pins_what_a_run_spends(setup, workers, dex, priority):
    campaign = setup.campaign(
        dex=dex, maker_count=2, maker_funding_sol="0.3", trade_size_min_sol="0.01",
        trade_size_max_sol="0.03", concurrency_cap=2, target_volume_sol="0.2",
        priority_fee_micro_lamports=priority,
    )  # fmt: skip
    estimate, _ = campaign_estimate(campaign=campaign)
    oracle_before = oracle_writes(setup)

    run = run_to_completion(setup, campaign)

    swaps = Execution.objects.filter(run=run, status="landed", side__in=["buy", "sell"])
    planned = swaps.exclude(job__type=Job.Type.FUNDS_GATHER)
    gather_sells = swaps.filter(job__type=Job.Type.FUNDS_GATHER).count()
    # The same buys: the run's plan, replayed with its seed. A sell can come out one fewer when
    # it ran before its maker's buy was booked (a later sell of that maker sells both).
    assert planned.filter(side="buy").count() == estimate.buys
    assert swaps.filter(side="sell").count() <= estimate.sells
    # The same volume and the same loss to the pool (curve maths and venue fees).
    assert abs(run.volume_lamports - estimate.volume_lamports) <= estimate.volume_lamports // 500
    assert (
        abs(run.price_impact_lamports - estimate.price_impact_lamports)
        <= estimate.price_impact_lamports // 200
    )
    # Signatures, counted here: one per trade and per distribution batch; two (maker and
    # funding wallet) per gather sell; one sweep for both makers, signed by each and by the
    # funding wallet.
    signatures = run.trades_succeeded + 1 + 2 * gather_sells + 2 + 1
    if priority == 0:
        assert run.fees_lamports == 5_000 * signatures
    else:
        # The priority fee is the price times the compute-unit limit the engine set from a
        # simulation; the estimate takes the venue's limit measured by bench.swap_cost.
        paid = sorted(e.fee_lamports - 5_000 for e in planned.only("fee_lamports"))
        # A CPMM pool writes its price oracle from the first trade 15 s (of chain time, which
        # follows the clock) after its last write, and that trade uses ~13,000 units more:
        # how many did depends on how long the run took, which the estimate cannot know (on
        # a loaded machine, many). They are left out: the dearest trades, one per write the
        # pool's observation account shows.
        writes = len(oracle_writes(setup) - oracle_before)
        assert writes < len(paid)
        paid = paid[: len(paid) - writes]
        estimated = estimate.fee_per_trade_lamports - 5_000
        assert abs(sum(paid) // len(paid) - estimated) <= estimated // 10
    per_sol = -(-run.spent_lamports * SOL // run.volume_lamports)
    assert abs(per_sol - estimate.per_sol_volume_lamports["total"]) * 50 <= per_sol


def oracle_writes(setup) -> set[int]:
    """The block times of the CPMM pool's price-oracle writes its observation account keeps
    (a ring of 100, laid out as in the official IDL)."""
    cp_swap = idl.load("raydium_cp_swap")
    fields, _ = idl.layout(cp_swap, "ObservationState")
    ring_at, ring_size = fields["observations"]
    observation, size = idl.layout(cp_swap, "Observation")
    stamp_at, stamp_size = observation["block_timestamp"]
    account = setup.cluster.get_account(setup.seeded.cpmm.observation)
    data = bytes(account.data)[8:]  # after Anchor's discriminator
    stamps = (
        int.from_bytes(data[at + stamp_at : at + stamp_at + stamp_size], "little")
        for at in range(ring_at, ring_at + ring_size, size)
    )
    return {stamp for stamp in stamps if stamp}
