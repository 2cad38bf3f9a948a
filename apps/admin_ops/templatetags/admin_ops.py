from django import template

register = template.Library()

LAMPORTS_PER_SOL = 1_000_000_000


@register.filter
def lamports_sol(lamports) -> str:
    """Integer lamports as SOL with 9 decimals, no float on the way (1500000000 → 1.500000000)."""
    if lamports is None or lamports == "":
        return "-"
    value = int(lamports)
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), LAMPORTS_PER_SOL)
    return f"{sign}{whole:,}.{fraction:09d}"
