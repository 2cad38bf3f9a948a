"""The server-side SVG charts: minutes filled, values exact, labels escaped."""

from datetime import UTC, datetime, timedelta

from apps.campaigns.charts import fill_minutes, trades_chart, volume_chart
from apps.campaigns.selectors import MinuteBucket

T0 = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
SOL = 1_000_000_000


def test_it_fills_minutes_without_trades_with_zeros():
    buckets = [MinuteBucket(T0, 2, SOL), MinuteBucket(T0 + timedelta(minutes=3), 1, SOL // 2)]

    filled = fill_minutes(buckets)

    assert [(b.minute - T0, b.trades) for b in filled] == [
        (timedelta(minutes=0), 2),
        (timedelta(minutes=1), 0),
        (timedelta(minutes=2), 0),
        (timedelta(minutes=3), 1),
    ]


def test_it_draws_cumulative_volume_and_bars_per_minute():
    buckets = [MinuteBucket(T0, 2, SOL), MinuteBucket(T0 + timedelta(minutes=1), 4, SOL // 2)]

    volume = str(volume_chart(buckets))
    trades = str(trades_chart(buckets))

    assert volume.startswith('<svg class="chart"')
    assert "Volume over time: 1.5 SOL in 2 min" in volume
    assert "1.5 SOL</text>" in volume  # top of the axis: the total
    # 1 of 1.5 SOL after the first minute: two thirds up the 146 px plot from its 156 px base.
    assert 'points="24,156 24.0,58.7 592.0,10.0 592.0,156"' in volume
    assert trades.count('<rect class="bar"') == 2
    assert "16:01: 4 trades" in trades and "Trades per minute (peak 4)" in trades


def test_it_draws_nothing_without_trades():
    assert volume_chart([]) is None
    assert trades_chart([]) is None
