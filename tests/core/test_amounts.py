from apps.core.amounts import format_sol, format_sol_trimmed


def test_it_shows_sol_with_nine_decimals_grouped_or_not():
    assert format_sol(12_345_500_000_000) == "12345.500000000"
    assert format_sol(12_345_500_000_000, grouped=True) == "12,345.500000000"
    assert format_sol(-1) == "-0.000000001"


def test_it_trims_trailing_zeros_for_sentences():
    assert format_sol_trimmed(1_500_000_000) == "1.5"
    assert format_sol_trimmed(100_000_000_000) == "100"
    assert format_sol_trimmed(1) == "0.000000001"
    assert format_sol_trimmed(0) == "0"
    assert format_sol_trimmed(-2_000_000_001) == "-2.000000001"
