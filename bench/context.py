"""State shared by the cases of one run: options, servers, the limits measured so far, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Report, Row
from bench.servers import Servers


@dataclass
class Bench:
    quick: bool
    runs: int
    large: bool
    servers: Servers
    workdir: Path
    report: Report = field(default_factory=Report)
    limits: dict[str, float] = field(default_factory=dict)  # e.g. parse-msgs-s, sink-msgs-s
    with_mailman: bool = False

    def size(self, quick: int, default: int) -> int:
        return quick if self.quick else default

    def growth(self, quick: int, default: int) -> list[int]:
        """Case 6: the size 10x smaller, the size itself, and 10x larger when --large is given."""
        base = self.size(quick, default)
        sizes = [max(1, base // 10), base]
        if self.large:
            sizes.append(base * 10)
        return sizes

    def add(self, row: Row) -> Row:
        self.report.rows.append(row)
        print("  " + f"{row.case}: {row.label}: {row.metric} median {row.figure.median:.4g}", flush=True)
        return row
