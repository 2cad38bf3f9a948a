"""`python -m bench`: print the benchmark lines (the bare-loop baseline, the run engine, then the
web tier under load)."""

from bench import run_engine, web
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    run_engine.main([])
    web.main([])


if __name__ == "__main__":
    main()
