"""Display of integer amounts (lamports, raw token units): exact, never through a float.
Amounts stay integers everywhere else; these only make text."""

from decimal import Decimal

from apps.chain.constants import LAMPORTS_PER_SOL

SOL_DECIMALS = 9

__all__ = ["LAMPORTS_PER_SOL", "format_amount", "format_sol", "format_sol_trimmed"]


def format_amount(amount_raw: int, decimals: int, *, grouped: bool = False) -> str:
    """An integer amount in base units shown with all its decimals (`grouped`: 1,234.5…)."""
    value = Decimal(amount_raw).scaleb(-decimals)
    return f"{value:,.{decimals}f}" if grouped else f"{value:.{decimals}f}"


def format_sol(lamports: int, *, grouped: bool = False) -> str:
    """Lamports as SOL with its 9 decimals (DESIGN §4): 1500000000 → 1.500000000."""
    return format_amount(lamports, SOL_DECIMALS, grouped=grouped)


def format_sol_trimmed(lamports: int) -> str:
    """Lamports as SOL for sentences, trailing zeros dropped: 1500000000 → 1.5."""
    return format_sol(lamports).rstrip("0").rstrip(".")
