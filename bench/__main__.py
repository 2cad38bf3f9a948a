"""`python -m bench`: print the benchmark lines (the bare-loop baseline, then the run engine)."""

from bench import budget, run_engine
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    run_engine.main([])
    budget.main([])


if __name__ == "__main__":
    main()
