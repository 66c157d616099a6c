"""One module per benchmark case; each exposes `run(bench)` and adds rows to the report."""
