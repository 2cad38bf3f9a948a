"""Server-side SVG charts for the campaign page (no chart library, no CDN, no script).

The SVG is built from integers and our own labels only, and every text is escaped, so it is safe
to inline. Colours come from CSS (`currentColor` and classes), so both themes apply.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.campaigns.selectors import MinuteBucket
from apps.core.amounts import format_sol_trimmed
from apps.core.prices import PoolPrice

WIDTH, HEIGHT = 600, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 24, 8, 10, 24


def fill_minutes(buckets: list[MinuteBucket]) -> list[MinuteBucket]:
    """Every minute from the first bucket to the last, empty minutes as zero."""
    if not buckets:
        return []
    by_minute = {bucket.minute: bucket for bucket in buckets}
    minute, last, filled = buckets[0].minute, buckets[-1].minute, []
    while minute <= last:
        filled.append(by_minute.get(minute, MinuteBucket(minute, 0, 0)))
        minute += timedelta(minutes=1)
    return filled


def _frame(
    *, title: str, top_label: str, first: str, last: str, body: str, bottom_label: str = "0"
) -> SafeString:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{PAD_TOP + plot_h}"/>'
        # The scale's top inside the plot, so a long amount is never cut at a phone's width.
        f'<text class="label" x="{PAD_LEFT + 4}" y="{PAD_TOP + 12}">{escape(top_label)}</text>'
        f'<text class="label" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">'
        f"{escape(bottom_label)}</text>"
        f'<text class="label" x="{PAD_LEFT}" y="{HEIGHT - 6}">{escape(first)}</text>'
        f'<text class="label" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 6}" text-anchor="end">'
        f"{escape(last)}</text>"
        f"{body}</svg>"
    )
    return mark_safe(svg)  # noqa: S308 — integers and escaped labels only


def volume_chart(buckets: list[MinuteBucket]) -> SafeString | None:
    """Cumulative SOL volume over time, one point per minute; None without trades."""
    filled = fill_minutes(buckets)
    if not filled:
        return None
    cumulative, total = [], 0
    for bucket in filled:
        total += bucket.volume_lamports
        cumulative.append(total)
    top = max(total, 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(cumulative) - 1, 1)
    points = [
        (PAD_LEFT + i * step, PAD_TOP + plot_h - value * plot_h / top)
        for i, value in enumerate(cumulative)
    ]
    if len(points) == 1:
        points.append((PAD_LEFT + plot_w, points[0][1]))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    area = f"{PAD_LEFT},{PAD_TOP + plot_h} {line} {points[-1][0]:.1f},{PAD_TOP + plot_h}"
    body = f'<polygon class="area" points="{area}"/><polyline class="line" points="{line}"/>'
    return _frame(
        title=f"Volume over time: {format_sol_trimmed(total)} SOL in {len(filled)} min",
        top_label=f"{format_sol_trimmed(top)} SOL",
        first=filled[0].minute.strftime("%H:%M"),
        last=filled[-1].minute.strftime("%H:%M"),
        body=body,
    )


def trades_chart(buckets: list[MinuteBucket]) -> SafeString | None:
    """Trades landed per minute, one bar per minute; None without trades."""
    filled = fill_minutes(buckets)
    if not filled:
        return None
    top = max(max(bucket.trades for bucket in filled), 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(filled)
    bar = max(slot * 0.7, 1)
    bars = []
    for i, bucket in enumerate(filled):
        h = bucket.trades * plot_h / top
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
            f'width="{bar:.1f}" height="{h:.1f}"><title>{bucket.minute:%H:%M}: '
            f"{bucket.trades} trades</title></rect>"
        )
    return _frame(
        title=f"Trades per minute (peak {top})",
        top_label=str(top),
        first=filled[0].minute.strftime("%H:%M"),
        last=filled[-1].minute.strftime("%H:%M"),
        body="".join(bars),
    )


def price_chart(prices: list[PoolPrice], trades: list[tuple[float, str]]) -> SafeString | None:
    """The pool's live price since the run started (start, now, min and max named) with the
    run's own landed trades marked where they happened (`trades`: (unix time, side)); None
    before the first price."""
    if not prices:
        return None
    values = [Decimal(p.price_sol) for p in prices]
    low, high = min(values), max(values)
    span = high - low or Decimal(1)
    t0, t1 = prices[0].at, max(prices[-1].at, prices[0].at + 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(at: float) -> float:
        return PAD_LEFT + (min(max(at, t0), t1) - t0) * plot_w / (t1 - t0)

    def y(value: Decimal) -> float:
        return PAD_TOP + plot_h - float((value - low) / span) * (plot_h - 16)

    points = [(x(p.at), y(v)) for p, v in zip(prices, values, strict=True)]
    if len(points) == 1:
        points.append((PAD_LEFT + plot_w, points[0][1]))
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    marks = []
    for at, side in trades:
        if t0 <= at <= t1:
            # The trade sits on the price line at its time (the last price before it).
            before = [v for p, v in zip(prices, values, strict=True) if p.at <= at] or values[:1]
            marks.append(
                f'<circle class="trade-{escape(side)}" cx="{x(at):.1f}" cy="{y(before[-1]):.1f}" '
                f'r="3"><title>{escape(side)}</title></circle>'
            )
    start, now = prices[0].price_sol, prices[-1].price_sol
    low_text, high_text = format(low.normalize(), "f"), format(high.normalize(), "f")
    return _frame(
        title=f"Price in SOL per token: start {start}, now {now}, min {low_text}, max {high_text}",
        top_label=f"max {high_text} · now {now}",
        first=f"start {start}",
        last=f"min {low_text}",
        body=f'<polyline class="line" points="{line}"/>{"".join(marks)}',
        bottom_label="",
    )
