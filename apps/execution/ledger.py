"""The ledger: every lamport and raw token unit that moves, written from each landed
transaction's real pre/post balances (`TxBalances`), with the run's counters beside it.

Writes are idempotent per (execution, wallet, kind) by the ledger's unique constraint, and a
replayed outcome (after a crash) finds its rows written (`ledger_written`) and adds nothing to
the counters. Reads (balances by the ledger) are in `selectors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from django.db.models import F

from apps.campaigns.models import CampaignRun
from apps.core.sql import add_to_rows, update_rows
from apps.execution import domain
from apps.execution.balances import TxBalances
from apps.execution.jobs import JobFailed
from apps.execution.models import Execution, LedgerEntry
from apps.wallets.models import Wallet

# What `trade_writes` returns of each run it added to: what `lifecycle.stop_when_reached` reads.
RUN_TOTALS = ("campaign", "status", "volume_lamports", "fees_lamports", "tips_lamports",
              "price_impact_lamports")  # fmt: skip


@dataclass(frozen=True)
class TradeWrite:
    """What a landed trade writes: its ledger rows, its execution's amounts, the run totals."""

    execution: Execution
    ledger: list[LedgerEntry]
    amounts: dict[str, int]
    totals: dict[str, int]


def ledger_write(
    *,
    execution: Execution,
    balances: TxBalances,
    kind: str,
    wallets: list[Wallet],
    mint: str = "",
) -> dict[int, int]:
    """Write `ledger_rows`; returns {wallet id: lamports delta of its `kind` row}. Idempotent
    per (execution, wallet, kind) by the unique constraint."""
    rows, deltas = ledger_rows(
        execution=execution, balances=balances, kind=kind, wallets=wallets, mint=mint
    )
    LedgerEntry.objects.bulk_create(rows, ignore_conflicts=True)
    return deltas


def ledger_rows(
    *, execution: Execution, balances: TxBalances, kind: str, wallets: list[Wallet], mint: str
) -> tuple[list[LedgerEntry], dict[int, int]]:
    """Ledger rows of a landed transaction from its real pre/post balances: per wallet one
    `kind` row (lamports less the fee it paid, token delta) and a `fee` row for the fee payer;
    and {wallet id: lamports delta of its `kind` row}."""
    rows, deltas = [], {}

    def row(wallet: Wallet, kind: str, lamports: int, tokens: int = 0) -> None:
        rows.append(
            LedgerEntry(
                run_id=execution.run_id, wallet=wallet, kind=kind, lamports_delta=lamports,
                mint=mint if tokens else "", token_delta_raw=tokens, execution=execution,
            )
        )  # fmt: skip

    for wallet in wallets:
        lamports = balances.lamports_delta(wallet.address)
        if wallet.address == balances.payer:
            # The payer's fee and tip are rows of their own, not part of its `kind` row.
            if balances.tip:
                lamports += balances.tip
                row(wallet, LedgerEntry.Kind.TIP, -balances.tip)
            lamports += balances.fee
            row(wallet, LedgerEntry.Kind.FEE, -balances.fee)
        tokens = balances.token_delta(owner=wallet.address, mint=mint) if mint else 0
        deltas[wallet.pk] = lamports
        if lamports or tokens:
            row(wallet, kind, lamports, tokens)
    return rows, deltas


def tip_shared(trades: list[TradeWrite]) -> list[TradeWrite]:
    """The landed trades of one bundle with its one tip (paid inside the last transaction)
    shared between them (`domain.tip_shares`): each trade gets a `tip` row of its share,
    on the wallet that paid the tip, so every wallet's rows still add up to its balance
    and the shares to the tip paid; each execution's `tip_lamports` and the run's tips
    count its share."""
    tip_rows = [row for trade in trades for row in trade.ledger if row.kind == LedgerEntry.Kind.TIP]
    if len(trades) < 2 or len(tip_rows) != 1:
        return trades
    (paid,) = tip_rows
    shares = domain.tip_shares(-paid.lamports_delta, len(trades))
    shared = []
    for trade, share in zip(trades, shares, strict=True):
        ledger = [row for row in trade.ledger if row is not paid]
        if share:
            ledger.append(
                LedgerEntry(
                    run_id=trade.execution.run_id, wallet=paid.wallet, kind=LedgerEntry.Kind.TIP,
                    lamports_delta=-share, execution=trade.execution,
                )
            )  # fmt: skip
        shared.append(
            replace(
                trade, ledger=ledger, amounts={**trade.amounts, "tip_lamports": share},
                totals={**trade.totals, "tips_lamports": share},
            )
        )  # fmt: skip
    return shared


def ledger_written(execution: Execution) -> bool:
    if getattr(execution, "fresh", False):
        return False  # sent by this very attempt (see send_once): nothing written yet
    return LedgerEntry.objects.filter(execution=execution).exists()


def landed_failed(execution: Execution, *, payer: Wallet) -> JobFailed:
    """A transaction that landed with an error: the fee was charged (ledger), nothing else."""
    balances = execution.balances

    def write() -> None:
        if not ledger_written(execution):
            ledger_write(
                execution=execution, balances=balances, kind=LedgerEntry.Kind.TRADE,
                wallets=[payer],
            )  # fmt: skip
            CampaignRun.objects.filter(pk=execution.run_id).update(
                fees_lamports=F("fees_lamports") + balances.fee
            )

    return JobFailed(
        f"The transaction landed but failed: {(execution.error or {}).get('err', '')}",
        code="landed_failed",
        detail={"signature": execution.signature},
        write=write,
    )


def trade_writes(
    writes: list[TradeWrite], *, execution_fields: Sequence[str] = ()
) -> list[CampaignRun]:
    """Write landed trades (inside their jobs' completion transaction): one INSERT of all
    their ledger rows, one UPDATE of their executions (their amounts, and `execution_fields`
    a batch has not saved yet), one UPDATE adding to their runs' totals. A trade whose rows
    exist already (its outcome replayed after a crash) is left as it is. Returns the runs
    written to, with their status and totals as updated (for `stop_when_reached`)."""
    writes = [write for write in writes if not ledger_written(write.execution)]
    if not writes:
        return []
    LedgerEntry.objects.bulk_create(
        [row for w in writes for row in w.ledger], ignore_conflicts=True
    )
    for write in writes:
        for name, value in write.amounts.items():
            setattr(write.execution, name, value)
    update_rows([w.execution for w in writes], [*writes[0].amounts, *execution_fields])
    runs: dict[int, dict[str, int]] = {}
    for write in writes:
        totals = runs.setdefault(write.execution.run_id, dict.fromkeys(write.totals, 0))
        for name, value in write.totals.items():
            totals[name] += value
    updated = add_to_rows(CampaignRun, runs, returning=RUN_TOTALS)
    return [CampaignRun(pk=run_id, **row) for run_id, row in updated.items()]


# What `stop_when_reached` reads of a run.
