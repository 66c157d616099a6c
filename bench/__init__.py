"""mailbot benchmarks: `python -m bench` runs every case against real loopback servers and prints a table.

Results are also written as JSON to bench/results/; BENCHMARKS.md records a full run.
"""
