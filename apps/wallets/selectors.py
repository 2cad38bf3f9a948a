"""Wallet reads: scoped lookups, balances (cached), activity, usage by campaigns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from apps.accounts.models import User
from apps.campaigns.models import RUN_LIVE, Campaign, CampaignRun
from apps.core.amounts import format_amount, format_sol
from apps.core.errors import NotFound, ValidationFailed
from apps.core.outage import soft_cache
from apps.wallets import balances as chain_balances
from apps.wallets.domain import (
    Challenge,
    parse_address,
    parse_secret_key,
)
from apps.wallets.models import Wallet


def wallet_list(*, owner: User, kind: str | None = None) -> QuerySet[Wallet]:
    """The owner's wallets, oldest first. Maker wallets (many per run) only when asked for."""
    wallets = Wallet.objects.filter(owner=owner).order_by("created_at", "id")
    if kind:
        return wallets.filter(kind=kind)
    return wallets.exclude(kind=Wallet.Kind.MAKER)


def wallet_get(*, owner: User, wallet_id: int, for_update: bool = False) -> Wallet:
    """The owner's wallet; another user's wallet is NotFound, exactly like a missing one."""
    wallets = Wallet.objects.filter(owner=owner)
    if for_update:
        wallets = wallets.select_for_update()
    wallet = wallets.filter(pk=wallet_id).first()
    if wallet is None:
        raise NotFound("No such wallet.")
    return wallet


@sensitive_variables("secret_key")
def wallet_address_preview(
    *, owner: User, mode: str, secret_key: str = "", address: str = ""
) -> tuple[str, bool]:
    """The address an import or watch would add, and whether the owner already has it.
    Nothing is saved; the same validation as the real thing, so errors show up early."""
    if mode == "import":
        derived = str(parse_secret_key(secret_key).pubkey())
    elif mode == "watch":
        derived = str(parse_address(address))
    else:
        raise ValidationFailed(
            "Only an import or a watch-only address can be previewed.",
            fields={"mode": ["Preview works for import and watch."]},
        )
    return derived, Wallet.objects.filter(owner=owner, address=derived).exists()


def wallet_in_use(*, wallet: Wallet) -> bool:
    """Whether a campaign depends on the wallet: it is some campaign's funding wallet, a maker
    of a run that has not ended, or it has executions or ledger rows (money history, kept)."""
    if (
        wallet.run_id is not None
        and CampaignRun.objects.filter(pk=wallet.run_id, status__in=RUN_LIVE).exists()
    ):
        return True
    return (
        Campaign.objects.filter(funding_wallet=wallet).exists()
        or wallet.executions.exists()
        or wallet.ledger_entries.exists()
    )


ACTIVITY_ROWS = 50


@dataclass(frozen=True)
class ActivityRow:
    """One ledger row of a wallet, ready to show (amounts signed: + in, - out)."""

    at: datetime
    kind: str
    campaign: str
    network: str
    sol: str
    tokens: str
    signature: str


def wallet_activity(*, wallet: Wallet) -> list[ActivityRow]:
    """The wallet's last ACTIVITY_ROWS ledger rows, newest first: funding, trades, network fees,
    Jito tips and gathers of every run that used it, each with its campaign and, where a landed
    transaction wrote it, the transaction. The ledger is the money history (balances are sums of
    its rows), so this is what the wallet really sent and received through the platform."""
    entries = wallet.ledger_entries.select_related("run__campaign__token", "execution").order_by(
        "-created_at", "-id"
    )[:ACTIVITY_ROWS]
    return [_activity_row(entry) for entry in entries]


def _activity_row(entry) -> ActivityRow:
    campaign = entry.run.campaign
    token_delta = int(entry.token_delta_raw)
    return ActivityRow(
        at=entry.created_at,
        kind=entry.get_kind_display(),
        campaign=campaign.name,
        network=campaign.network,
        sol=_signed(format_sol(abs(entry.lamports_delta)), entry.lamports_delta),
        tokens=_signed(format_amount(abs(token_delta), campaign.token.decimals), token_delta)
        if token_delta
        else "",
        signature=(entry.execution.signature or "") if entry.execution else "",
    )


def _signed(text: str, value: int) -> str:
    return f"{'-' if value < 0 else '+'}{text}"


# ---------------------------------------------------------------------------------------------
# Ownership proof


def verification_cache_key(wallet: Wallet) -> str:
    return f"wallets:verify:{wallet.owner_id}:{wallet.pk}"


def wallet_verification_pending(*, wallet: Wallet) -> Challenge | None:
    pending = cache.get(verification_cache_key(wallet))
    if pending is None:
        return None
    return Challenge(message=pending["message"], expires_at=parse_datetime(pending["expires_at"]))


# ---------------------------------------------------------------------------------------------
# Balances


@dataclass(frozen=True)
class TokenBalance:
    mint: str
    program: str  # "spl" | "token2022"
    amount_raw: int
    decimals: int

    @property
    def display(self) -> str:
        return format_amount(self.amount_raw, self.decimals)


@dataclass(frozen=True)
class Balances:
    address: str
    network: str
    lamports: int | None = None
    tokens: list[TokenBalance] = field(default_factory=list)
    fetched_at: datetime | None = None
    error: str = ""

    @property
    def sol(self) -> str:
        return "" if self.lamports is None else format_sol(self.lamports)


def _balances_cache_key(network: str, address: str) -> str:
    return f"wallets:balances:{network}:{address}"


def balances_cache_forget(*, network: str, address: str) -> None:
    """Drop the cached balances of `address` (after something changed them on purpose)."""
    cache.delete(_balances_cache_key(network, address))


def _read_balances(*, address: str, network: str) -> Balances:
    reader = chain_balances.reader_for_network(network)
    lamports = reader.get_balance(address)
    totals: dict[tuple[str, str], list[int]] = {}
    for program_id, program in chain_balances.TOKEN_PROGRAMS.items():
        for account in reader.get_token_accounts_by_owner(address, program_id=program_id):
            # Several accounts of one mint (an ATA and others) add up to one balance.
            entry = totals.setdefault((account.mint, program), [0, account.decimals])
            entry[0] += account.amount_raw
    tokens = [
        TokenBalance(mint=mint, program=program, amount_raw=amount, decimals=decimals)
        for (mint, program), (amount, decimals) in sorted(totals.items())
    ]
    return Balances(
        address=address, network=network, lamports=lamports, tokens=tokens,
        fetched_at=timezone.now(),
    )  # fmt: skip


def wallet_balances(*, wallet: Wallet, network: str | None = None) -> Balances:
    """SOL and SPL / Token-2022 balances of the wallet, cached for WALLET_BALANCE_CACHE_SECONDS.
    A failed read is not cached and comes back with `error` set instead of raising: a page
    with a stale-or-missing balance is better than no page."""
    network = network or settings.SOLANA_DEFAULT_NETWORK
    key = _balances_cache_key(network, wallet.address)
    cached = soft_cache.get(key)  # Redis down: read the chain
    if cached is not None:
        return Balances(
            **{**cached, "tokens": [TokenBalance(**token) for token in cached["tokens"]]}
        )
    try:
        result = _read_balances(address=wallet.address, network=network)
    except chain_balances.BalanceUnavailable as error:
        return Balances(address=wallet.address, network=network, error=str(error))
    soft_cache.set(key, asdict(result), timeout=settings.WALLET_BALANCE_CACHE_SECONDS)
    return result


def wallets_with_balances(*, wallets: list[Wallet], network: str | None = None) -> list:
    """[(wallet, Balances)] for a list page."""
    return [(wallet, wallet_balances(wallet=wallet, network=network)) for wallet in wallets]
