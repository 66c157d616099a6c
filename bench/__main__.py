"""`python -m bench [--quick] [--cases a,b] [--runs N] [--large] [--with-mailman]`: run, print, save JSON."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import mailman
from bench.context import Bench
from bench.report import table
from bench.servers import REPO, Servers
from mailbot.store.sqlite_driver import describe

# Stable case names, in the order they run (limits first: every other case is shown against them).
CASES = ("limits", "ingest", "fanout", "latency", "search", "summary", "startup", "peer")
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    # BENCH_COMMIT: set when running from an exported snapshot of a commit (no .git there).
    commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = "" if os.environ.get("BENCH_COMMIT") else subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        # Two builds of one version differ in speed; mailbot, its floors and Mailman all run on this one.
        "python_executable": mailman.interpreter(),
        "kernel": platform.release(),
        "sqlite": describe(),  # which SQLite library every SQLite figure ran on
        "commit": commit + ("+uncommitted" if dirty else ""),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        # Other work on the machine skews every figure: the load before the run says how much.
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test (numbers meaningless)")
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of: {', '.join(CASES)}")
    p.add_argument("--runs", type=int, default=0, help="runs per figure (default 3, --quick 2)")
    p.add_argument("--large", action="store_true", help="growth case also at 10x the default sizes (slow)")
    p.add_argument("--with-mailman", action="store_true", help="peer case: also run GNU Mailman 3 (installs it)")
    p.add_argument("--results", default=str(RESULTS), help="directory for the JSON results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)} (known: {', '.join(CASES)})", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, so the servers this run started are stopped by the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="mbbench"))
    servers = Servers(workdir)
    bench = Bench(
        quick=args.quick,
        runs=args.runs or (2 if args.quick else 3),
        large=args.large,
        servers=servers,
        workdir=workdir,
        with_mailman=args.with_mailman,
    )
    bench.report.machine = machine()
    began = time.perf_counter()
    try:
        for name in CASES:
            if name not in chosen:
                continue
            print(f"== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                module = importlib.import_module(f"bench.cases.{name}")
                module.run(bench)
            except ModuleNotFoundError as exc:
                # A feature a case needs (mailbot.knowledge, mailbot.jobs...) is not there yet.
                bench.report.skipped[name] = f"module {exc.name} missing"
            except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others
                traceback.print_exc()
                bench.report.skipped[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
            print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    bench.report.machine["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    bench.report.machine["total_seconds"] = round(time.perf_counter() - began, 1)
    path = bench.report.save(Path(args.results))
    m = bench.report.machine
    print()
    print(f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']} ({m['python_executable']}), "
          f"{m['sqlite']}, commit {m['commit']}")
    print(f"load average at start {m['loadavg_at_start']}, at end {m['loadavg_at_end']}")
    print(table(bench.report))
    print(f"\nresults: {path} ({m['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
