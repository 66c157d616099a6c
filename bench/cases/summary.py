"""Case 5: the weekly summary (figures in SQL, trend chart, rendering) over N stored messages and M members."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench import history, setup
from bench.context import Bench
from bench.measure import Figure
from bench.report import Row
from mailbot.jobs import weekly_summary
from mailbot.jobs.periods import previous_seven_days
from mailbot.store.queries import community_row

FIRE = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)


def run(bench: Bench) -> None:
    messages, members = bench.size(20_000, 1_000_000), bench.size(200, 10_000)
    for db in ("sqlite", "postgresql"):
        url = bench.servers.sqlite_url("summary") if db == "sqlite" else bench.servers.pg_url()
        if url is None:
            bench.report.skipped["summary (postgresql)"] = bench.servers.pg_error
            continue
        try:
            app = setup.app(setup.settings(url, bench.workdir / "data"))
            t0 = time.perf_counter()
            history.fill(app, members=members, messages=messages, end=FIRE)
            print(f"  summary: {messages} messages into {db} in {time.perf_counter() - t0:.0f} s", flush=True)
            community = app.settings.communities[0]
            period = previous_seven_days(FIRE, community.tz)
            figs, total = Figure(), Figure()
            for _ in range(bench.runs):
                with app.sessions() as session:
                    row = community_row(session, "km-it")
                    t0 = time.perf_counter()
                    fig = weekly_summary.figures(session, community, row, period)
                    t1 = time.perf_counter()
                    weekly_summary.chart(community, fig)
                    weekly_summary.render(weekly_summary.JobEnv.from_app(app), community, fig)
                    t2 = time.perf_counter()
                figs.add(t1 - t0)
                total.add(t2 - t0)
            if not fig.messages:
                raise RuntimeError("the summary found no messages in the period: the fill is wrong")
            label = f"{messages:,} messages, {members:,} members, {db}"
            bench.add(Row("summary", label, "s figures (SQL)", figs))
            bench.add(Row("summary", label, "s figures+chart+render", total, target="<= 2 s",
                          ok=total.median <= 2.0))  # fmt: skip
            app.engine.dispose()
        finally:
            bench.servers.drop(url)
