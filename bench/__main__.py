"""`python -m bench`: print the benchmark lines (the bare-loop baseline, what one swap costs on
each Raydium program in the localnet, then the run engine)."""

from bench import run_engine, swap_cost
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    swap_cost.main([])
    run_engine.main([])


if __name__ == "__main__":
    main()
