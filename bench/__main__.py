"""`python -m bench`: print the benchmark lines (the bare-loop baseline, what one swap costs on
each venue's program in the localnet, the run engine, stopping on target and cost per volume
on every venue, the web tier under load, the shared request budget, fair share between 1,000
campaigns, 10,000 maker wallets distributed and gathered in one run, then the reads over a
history of 1,000,000 executions)."""

from bench import budget, fairness, history, makers, run_engine, swap_cost, target_cost, web
from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}", flush=True)
    swap_cost.main([])
    run_engine.main([])
    target_cost.main([])
    web.main([])
    budget.main([])
    fairness.main([])
    makers.main([])
    history.main([])


if __name__ == "__main__":
    main()
