"""`python -m bench`: print the benchmark lines (the bare-loop baseline, what one swap costs on
each Raydium program in the localnet, the run engine, the web tier under load, the shared
request budget, then fair share between 1,000 campaigns)."""

from bench import budget, fairness, run_engine, swap_cost, web
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    swap_cost.main([])
    run_engine.main([])
    web.main([])
    budget.main([])
    fairness.main([])


if __name__ == "__main__":
    main()
