"""`mailbot run --once` from cron also runs the scheduled jobs that are due, each once per period."""

from __future__ import annotations

from pathlib import Path

from mailbot.clock import FrozenClock
from tests.test_jobs_world import (
    PEOPLE,
    add_people,
    add_tips,
    local,
    make_app,
    make_settings,
    outbox,
)


def test_cron_mode_sends_the_daily_tip_once(tmp_path: Path, sqlite_url: str) -> None:
    clock = FrozenClock(local(2026, 11, 20, 17, 0))  # installed on Friday evening
    app = make_app(make_settings(tmp_path, sqlite_url), clock)
    add_people(app, local(2026, 11, 20, 17, 0))
    add_tips(app)
    assert app.run_once()["jobs"] == 0  # nothing was due yet
    clock.set(local(2026, 11, 23, 8, 35))  # Monday, five minutes after the tip time
    counts = app.run_once()
    assert counts["jobs"] >= 1
    tips = outbox(app, "tip")
    assert len(tips) == 1
    readers = {a for a, *_rest, delivery in PEOPLE if delivery != "none"}
    assert set(tips[0][1]) <= readers and tips[0][1]
    clock.set(local(2026, 11, 23, 8, 50))  # cron again a quarter of an hour later
    app.run_once()
    assert len(outbox(app, "tip")) == 1
