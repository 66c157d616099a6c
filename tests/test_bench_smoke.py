"""`python -m bench --quick` at tiny sizes: every case runs and produces numbers (never a timing threshold)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Cases that need only the core; search and summary need the knowledge and jobs features.
CORE_CASES = {"limits", "ingest", "fanout", "latency", "startup", "peer"}


def test_quick_benchmark_runs_every_case_and_reports_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--runs", "1", "--results", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [saved] = list(tmp_path.glob("bench-*.json"))
    result = json.loads(saved.read_text(encoding="utf-8"))
    failed = {case: why for case, why in result["skipped"].items() if "failed" in why}
    assert not failed, failed
    rows = result["rows"]
    ran = {r["case"] for r in rows}
    assert ran >= CORE_CASES, f"missing cases: {CORE_CASES - ran}; skipped: {result['skipped']}"
    for case in ("search", "summary"):
        assert case in ran or case in result["skipped"], f"{case} neither ran nor said why"
    for r in rows:
        assert r["runs"] and all(math.isfinite(v) and v >= 0 for v in r["runs"]), r
    # Figures that must be positive if anything was measured at all.
    rates = [r for r in rows if r["metric"] in ("msgs/s", "rcpts/s", "posts/s", "rows/s")]
    assert rates and all(r["median"] > 0 for r in rates)
    # Mailbot figures are shown against limits measured in the same run.
    ingest = [r for r in rows if r["case"] == "ingest" and r["metric"] == "msgs/s"]
    assert ingest and all(r["limit"] and r["fraction_of_limit"] is not None for r in ingest)
    assert "| case |" in done.stdout  # the table was printed
    assert result["machine"]["nproc"] and result["machine"]["commit"]
