"""What a case reports (rows of figures), how the table is printed and how results are saved as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import Figure


@dataclass
class Row:
    case: str  # stable kebab-case: ingest, fanout, latency, search, summary, startup, peer, limits
    label: str  # what was measured, with its size: "10000 msgs, sqlite"
    metric: str  # "msgs/s", "s", "p50 ms" ...
    figure: Figure
    limit: float | None = None  # the machine's limit for this figure, measured in the same run
    limit_label: str = ""
    target: str = ""  # the target in words
    ok: bool | None = None  # target met? None: no target or not judged
    note: str = ""

    @property
    def fraction(self) -> float | None:
        if self.limit is None or not self.limit or math.isnan(self.figure.median):
            return None
        return self.figure.median / self.limit

    def as_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "label": self.label,
            "metric": self.metric,
            **self.figure.as_dict(),
            "limit": self.limit,
            "limit_label": self.limit_label,
            "fraction_of_limit": self.fraction,
            "target": self.target,
            "ok": self.ok,
            "note": self.note,
        }


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # case -> why not available
    machine: dict[str, object] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def as_dict(self) -> dict[str, object]:
        return {
            "started": self.started,
            "machine": self.machine,
            "rows": [r.as_dict() for r in self.rows],
            "skipped": self.skipped,
        }

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = self.started.replace(":", "").replace("-", "")[:15]
        path = directory / f"bench-{stamp}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        return path


def fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(report: Report) -> str:
    """A Markdown table (readable in a terminal too), then the cases that did not run."""
    head = "| case | measured | metric | median | spread (min-max) | limit (same run) | fraction | target | met |"
    lines = [head, "|" + "---|" * 9]
    for r in report.rows:
        spread = f"{fmt(r.figure.low)}-{fmt(r.figure.high)} (n={len(r.figure.runs)})"
        limit = f"{fmt(r.limit)} {r.limit_label}".strip() if r.limit is not None else "-"
        frac = f"{r.fraction:.0%}" if r.fraction is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[r.ok]
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.case} | {r.label}{note} | {r.metric} | {fmt(r.figure.median)} | {spread} | {limit} "
            f"| {frac} | {r.target or '-'} | {met} |"
        )
    for case, why in report.skipped.items():
        lines.append(f"| {case} | not available: {why} | | | | | | | |")
    return "\n".join(lines)
