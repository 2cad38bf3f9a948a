"""`python -m bench`: print the benchmark lines (the bare-loop baseline, then the run engine)."""

from bench import run_engine
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    run_engine.main([])


if __name__ == "__main__":
    main()
