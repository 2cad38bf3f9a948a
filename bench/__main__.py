"""`python -m bench`: print the benchmark lines (the bare-loop baseline, what one swap costs on
each Raydium program in the localnet, the run engine, stopping on target and cost per volume
on every venue, then the web tier under load)."""

from bench import budget, run_engine, swap_cost, target_cost, web
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    swap_cost.main([])
    run_engine.main([])
    target_cost.main([])
    web.main([])
    budget.main([])


if __name__ == "__main__":
    main()
