"""Display filters for campaign pages: lamports as SOL, basis points as percent, explorer links.
Display only: amounts stay integers everywhere else."""

from urllib.parse import quote

from django import template
from django.conf import settings

from apps.core.amounts import format_sol

register = template.Library()
DASH = "\u2013"  # what an unknown amount shows


@register.filter
def sol(lamports) -> str:
    """Lamports as SOL with 9 decimals (DESIGN §4), exact."""
    if lamports is None or lamports == "":
        return DASH
    return format_sol(int(lamports))


@register.filter
def percent(bps) -> str:
    """Basis points as a percent with two decimals (a dash when unknown)."""
    if bps is None or bps == "":
        return DASH
    whole, fraction = divmod(int(bps), 100)
    return f"{whole}.{fraction:02d} %"


@register.filter
def ppm_percent(ppm) -> str:
    """Millionths as a signed percent with four decimals (a dash when unknown)."""
    if ppm is None or ppm == "":
        return DASH
    whole, fraction = divmod(abs(int(ppm)), 10_000)
    return f"{'-' if int(ppm) < 0 else '+'}{whole}.{fraction:04d} %"


@register.filter
def cents(amount) -> str:
    """US cents as dollars with two decimals, thousands grouped (a dash when unknown)."""
    if amount is None or amount == "":
        return DASH
    dollars, fraction = divmod(int(amount), 100)
    return f"{dollars:,}.{fraction:02d}"


@register.filter
def explorer_tx(signature: str, network: str) -> str:
    """The transaction on Solana Explorer; a localnet one through Explorer's custom cluster."""
    base = f"https://explorer.solana.com/tx/{quote(signature or '')}"
    if network == "mainnet-beta":
        return base
    if network == "devnet":
        return f"{base}?cluster=devnet"
    urls = getattr(settings, "SOLANA_RPC_URLS", {}).get(network) or ["http://127.0.0.1:8899"]
    return f"{base}?cluster=custom&customUrl={quote(urls[0], safe='')}"


@register.filter
def short(value: str, size: int = 8) -> str:
    """The start and end of a long base58 string."""
    value = value or ""
    return value if len(value) <= 2 * size + 1 else f"{value[:size]}…{value[-size:]}"
