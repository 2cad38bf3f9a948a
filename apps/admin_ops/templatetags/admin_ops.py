from django import template

from apps.core.amounts import format_sol

register = template.Library()


@register.filter
def lamports_sol(lamports) -> str:
    """Integer lamports as SOL with 9 decimals, no float on the way (1500000000 → 1.500000000)."""
    if lamports is None or lamports == "":
        return "-"
    return format_sol(int(lamports), grouped=True)
