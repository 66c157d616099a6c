"""Measuring helpers: wall/CPU/peak-RSS of a block, medians with spread, percentiles."""

from __future__ import annotations

import contextlib
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def rss_mib(pid: int | str = "self", key: str = "VmRSS") -> float:
    """Resident set (or VmHWM: peak) of a process in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM (the way an operator stops mailbot), SIGKILL after 30 s; close its stderr pipe."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr:
        proc.stderr.close()


class FirstSeen:
    """The monotonic time `check()` first held, watched from a thread while the caller goes on (e.g.
    the first copy delivered while posts are still being injected: looked for only after the
    injection, it would always include the whole injection)."""

    def __init__(self, check: Callable[[], bool], interval: float = 0.01) -> None:
        self.check = check
        self.interval = interval
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="first-seen", daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self.check():
                self.at = time.monotonic()
                return
            self._stop.wait(self.interval)

    def start(self) -> FirstSeen:
        self._thread.start()
        return self

    def stop(self) -> float | None:
        """Stop watching; the time seen so far (None: not yet), after which `check` is the caller's."""
        self._stop.set()
        self._thread.join()
        return self.at


def reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so each run reports its own peak.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


@dataclass
class Span:
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss_mib: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Span]:
    """Wall seconds, CPU seconds of this process (all threads) and its peak RSS during the block."""
    span = Span()
    reset_peak_rss()
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield span
    finally:
        span.wall = time.perf_counter() - w0
        span.cpu = time.process_time() - c0
        span.peak_rss_mib = rss_mib(key="VmHWM")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


@dataclass
class Figure:
    """One reported number: the median of several runs, with min and max as the spread."""

    runs: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.runs.append(float(value))

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def low(self) -> float:
        return min(self.runs) if self.runs else float("nan")

    @property
    def high(self) -> float:
        return max(self.runs) if self.runs else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.runs}
