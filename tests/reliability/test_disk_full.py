"""Disk full under the raw-message store (the SQLite database): the bot stops taking mail, says why,
loses nothing, and resumes by itself when space returns.

Uses a real 2 MB tmpfs mount when this process may mount (root, CI containers); otherwise SQLite's
own `max_page_count` limit, which fails writes with the same SQLITE_FULL error ("database or disk
is full") behind our engine's connect hook. The report says which one ran.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from mailbot.config import ImapSettings
from tests.helpers import add_members
from tests.reliability.harness import (
    MEMBERS,
    PostStream,
    RunningBot,
    assert_nothing_lost,
    check_invariants,
    fast_settings,
    settled,
    wait_until,
)

pytestmark = pytest.mark.faults


class Space:
    """A small filesystem for the database, or a page limit when mounting is not allowed."""

    def __init__(self, where: Path) -> None:
        self.where = where
        where.mkdir()
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True
        )
        self.mode = "tmpfs" if res.returncode == 0 else "max_page_count"
        self.limit_pages = 0

    def limit(self, engine: Any) -> None:
        if self.mode != "max_page_count":
            return

        @event.listens_for(engine, "connect")
        def _cap(dbapi_conn: Any, _record: Any) -> None:
            if self.limit_pages:
                dbapi_conn.execute(f"PRAGMA max_page_count={self.limit_pages}")

        pages = engine.connect().exec_driver_sql("PRAGMA page_count").scalar()
        self.limit_pages = int(pages) + 400  # about 1.6 MB more with 4 KB pages
        engine.dispose()

    def grow(self, engine: Any) -> None:
        if self.mode == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=256m", str(self.where)], check=True)
        else:
            self.limit_pages = 1 << 30
            engine.dispose()  # fresh connections get the raised limit

    def cleanup(self) -> None:
        if self.mode == "tmpfs":
            subprocess.run(["umount", "-l", str(self.where)], capture_output=True)


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    s = Space(tmp_path / "dbfs")
    try:
        yield s
    finally:
        s.cleanup()


def test_disk_full_stops_fetching_says_why_and_resumes(
    space: Space, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    caplog: pytest.LogCaptureFixture, reliability_report: list[dict[str, Any]],
) -> None:
    caplog.set_level(logging.WARNING)
    user = imap_settings.username
    db_url = f"sqlite:///{space.where / 'mailbot.db'}"
    stream = PostStream("diskfull")
    bot = RunningBot(fast_settings(db_url, tmp_path, smtp_sink.port, imap_settings))
    add_members(bot.app, *MEMBERS)
    space.limit(bot.app.engine)
    with bot:
        for _ in range(14):  # ~100 KB each, stored twice (raw + list copy): far more than fits
            dovecot.append(user, "INBOX", stream.next(size=100_000).raw)
        wait_until(lambda: "full" in caplog.text, 60)
        time.sleep(3.0)
        # It stopped: what did not fit is still on the server, not thrown into the failed folder.
        waiting = len(dovecot.list_uids(user, "INBOX"))
        failed_folder = len(dovecot.list_uids(user, imap_settings.failed_folder))
        began = time.monotonic()
        space.grow(bot.app.engine)
        recovery = wait_until(settled(db_url, dovecot, user, stream.posts), 90)
    f = check_invariants(db_url, stream.posts, smtp_sink)
    reliability_report.append({
        "scenario": f"disk-full ({space.mode})", "database": "sqlite", "runs": 1,
        "in_flight": waiting, **f.as_dict(), "recovery_s": round(recovery, 2),
        "command": "pytest tests/reliability/test_disk_full.py",
    })  # fmt: skip
    assert "database or disk is full" in caplog.text
    assert waiting > 0
    assert failed_folder == 0
    assert_nothing_lost(f)
    assert f.duplicates == 0
    assert f.statuses.get("failed", 0) == 0
    assert time.monotonic() - began < 90
