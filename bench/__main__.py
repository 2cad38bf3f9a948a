"""`python -m bench`: print the benchmark lines."""

from bench.baseline import baseline


def main() -> None:
    http, inprocess = baseline()
    print(f"baseline transfers/s http={http} inprocess={inprocess}")


if __name__ == "__main__":
    main()
