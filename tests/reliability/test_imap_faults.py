"""IMAP faults under the long-running bot: server restarted mid-IDLE and mid-FETCH, connection cut,
UIDVALIDITY changed with the mailbox restored from a backup (every message seen again).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

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
    sink_copies,
    wait_until,
)

pytestmark = pytest.mark.faults


def test_dovecot_restarted_mid_idle(
    sqlite_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    user = imap_settings.username
    stream = PostStream("idlerestart")
    recoveries = []
    with RunningBot(fast_settings(sqlite_url, tmp_path, smtp_sink.port, imap_settings)) as bot:
        add_members(bot.app, *MEMBERS)
        for _ in range(3):
            time.sleep(1.5)  # the IMAP thread is in IDLE now
            dovecot.restart()
            post = stream.next()
            dovecot.append(user, "INBOX", post.raw)
            # Time from the server being back to the post being at both other members.
            recoveries.append(wait_until(lambda p=post: sum(n for (t, _), n in sink_copies(smtp_sink).items() if t == p.token) >= 2, 60))  # noqa: E501
        wait_until(settled(sqlite_url, dovecot, user, stream.posts), 30)
    f = check_invariants(sqlite_url, stream.posts, smtp_sink)
    reliability_report.append({
        "scenario": "imap-restart-mid-idle", "database": "sqlite", "runs": 3, "in_flight": 0,
        **f.as_dict(), "recovery_s": round(max(recoveries), 2),
        "command": "pytest tests/reliability/test_imap_faults.py -k mid_idle",
    })  # fmt: skip
    assert_nothing_lost(f)
    assert f.duplicates == 0


def test_connection_cut_and_restart_mid_fetch(
    sqlite_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    user = imap_settings.username
    stream = PostStream("fetchcut")
    bot = RunningBot(fast_settings(sqlite_url, tmp_path, smtp_sink.port, imap_settings))
    add_members(bot.app, *MEMBERS)
    real_ingest = bot.app.ingest
    seen = {"n": 0}
    faults: list[str] = []

    def ingest_with_faults(raw: bytes, **kw: Any) -> Any:
        # The fault fires while a FETCH batch is being worked through (fetch_batch=5).
        seen["n"] += 1
        if seen["n"] == 3:
            dovecot.kill_connections(user)
            faults.append("kick")
        if seen["n"] == 9:
            threading.Thread(target=dovecot.restart, daemon=True).start()
            faults.append("restart")
        return real_ingest(raw, **kw)

    bot.app.ingest = ingest_with_faults  # type: ignore[method-assign]
    for _ in range(15):
        dovecot.append(user, "INBOX", stream.next().raw)
    began = time.monotonic()
    with bot:
        wait_until(settled(sqlite_url, dovecot, user, stream.posts), 90)
    elapsed = time.monotonic() - began
    f = check_invariants(sqlite_url, stream.posts, smtp_sink)
    reliability_report.append({
        "scenario": "imap-cut-and-restart-mid-fetch", "database": "sqlite", "runs": 1,
        "in_flight": 15, **f.as_dict(), "recovery_s": round(elapsed, 2),
        "command": "pytest tests/reliability/test_imap_faults.py -k mid_fetch",
    })  # fmt: skip
    assert faults == ["kick", "restart"]
    assert_nothing_lost(f)
    assert f.duplicates == 0


def test_uidvalidity_changed_and_mailbox_restored(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    user = imap_settings.username
    stream = PostStream("uidvalidity")
    with RunningBot(fast_settings(db_url, tmp_path, smtp_sink.port, imap_settings)) as bot:
        add_members(bot.app, *MEMBERS)
        for _ in range(6):
            dovecot.append(user, "INBOX", stream.next().raw)
        wait_until(settled(db_url, dovecot, user, stream.posts), 30)
        delivered = len(smtp_sink.messages)
        # A server migration: the old mail comes back into INBOX under a new UIDVALIDITY.
        restored = dovecot.fetch_all(user, imap_settings.processed_folder)
        for raw, _flags in restored.values():
            dovecot.append(user, "INBOX", raw)
        dovecot.set_uidvalidity(user, "INBOX")
        for _ in range(3):
            dovecot.append(user, "INBOX", stream.next().raw)
        began = time.monotonic()
        wait_until(settled(db_url, dovecot, user, stream.posts), 30)
        recovery = time.monotonic() - began
    f = check_invariants(db_url, stream.posts, smtp_sink)
    reliability_report.append({
        "scenario": "imap-uidvalidity-changed", "database": db_url.split(":")[0], "runs": 1,
        "in_flight": len(restored), **f.as_dict(), "recovery_s": round(recovery, 2),
        "command": "pytest tests/reliability/test_imap_faults.py -k uidvalidity",
    })  # fmt: skip
    assert len(restored) == 6 and delivered > 0
    assert_nothing_lost(f)
    assert f.duplicates == 0  # the six restored messages were recognised, not sent again
