"""Server-side SVG charts for the campaign page (no chart library, no CDN, no script).

The SVG is built from integers and our own labels only, and every text is escaped, so it is safe
to inline. Colours come from CSS (`currentColor` and classes), so both themes apply.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.campaigns.selectors import MinuteBucket
from apps.core.amounts import format_sol_trimmed

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


def _frame(*, title: str, top_label: str, first: str, last: str, body: str) -> SafeString:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - PAD_RIGHT}" '
        f'y2="{PAD_TOP + plot_h}"/>'
        # The scale's top inside the plot, so a long amount is never cut at a phone's width.
        f'<text class="label" x="{PAD_LEFT + 4}" y="{PAD_TOP + 12}">{escape(top_label)}</text>'
        f'<text class="label" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>'
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
