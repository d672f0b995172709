"""labelbay's benchmarks. `python -m bench` (or `make bench`) runs them all and prints one table."""
