"""Benchmarks (`make bench` runs `python -m bench`). Not timed tests: they print figures."""
