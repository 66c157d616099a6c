"""kill -9 of the real `mailbot run --once` process at random checkpoints while posts keep arriving.

Each run gets a `MAILBOT_CRASH_AT` spec (see crash_spec): every checkpoint it passes (after fetch, before
commit, after commit, before/after the IMAP move, after claim, after SMTP send, after recording)
kills it with chance p. The loop goes on until at least KILLS runs died, then one clean run must
leave nothing lost and every member with every post.
"""

from __future__ import annotations

import collections
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from mailbot.config import ImapSettings
from mailbot.faults import CHECKPOINTS
from tests.reliability.harness import (
    Feeder,
    PostStream,
    assert_nothing_lost,
    check_invariants,
    db_counts,
    run_bot,
    setup_members,
    write_config,
)

pytestmark = pytest.mark.faults

KILLS = int(os.environ.get("MAILBOT_FAULT_KILLS", "50"))
PROBABILITY = 0.1
PATH_POINTS = [c for c in CHECKPOINTS if not c.startswith("job-")]  # `run --once` runs no jobs


def crash_spec(round_: int) -> str:
    """Odd rounds: a random checkpoint and hit number; even rounds: every checkpoint may kill.

    Pure probability kills mostly during ingest (it passes the most checkpoints), so half the
    rounds aim at a uniformly chosen point to reach the move and delivery phases too.
    """
    if round_ % 2 == 0:
        return f"random:{round_}:{PROBABILITY}"
    rng = random.Random(round_)
    return f"{rng.choice(PATH_POINTS)}@{rng.randint(1, 3)}"


def _kill_loop(
    db_url: str, tmp_path: Path, dovecot: Any, imap: ImapSettings, sink: Any, name: str, kills_wanted: int
) -> dict[str, Any]:
    cfg = write_config(tmp_path, db_url, imap, sink.port)
    setup_members(cfg)
    stream = PostStream(name)
    crash_log = tmp_path / "crashes.log"
    kills = rounds = 0
    started = time.monotonic()
    with Feeder(dovecot, imap.username, stream, interval=0.15):
        while kills < kills_wanted and rounds < kills_wanted * 4:
            rounds += 1
            res = run_bot(cfg, "run", "--once", crash_at=crash_spec(rounds), crash_log=crash_log)
            if res.returncode == -9:
                kills += 1
            else:
                assert res.returncode == 0, res.stderr[-3000:]
    # Recovery: plain runs (no fault) until the inbox and the outbox are empty; no manual step.
    began = time.monotonic()
    for _ in range(5):
        res = run_bot(cfg, "run", "--once")
        assert res.returncode == 0, res.stderr[-3000:]
        if not dovecot.list_uids(imap.username, "INBOX") and db_counts(db_url)[1] == 0:
            break
    recovery = time.monotonic() - began
    points = collections.Counter(
        line.split()[0] for line in crash_log.read_text().splitlines() if line.strip()
    )
    f = check_invariants(db_url, stream.posts, sink)
    return {
        "figures": f, "kills": kills, "rounds": rounds, "points": dict(points),
        "recovery_s": round(recovery, 2), "elapsed_s": round(time.monotonic() - started, 1),
        "inbox_left": len(dovecot.list_uids(imap.username, "INBOX")),
    }  # fmt: skip


def test_kill9_at_random_points_while_posts_stream_in(
    sqlite_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    out = _kill_loop(sqlite_url, tmp_path, dovecot, imap_settings, smtp_sink, "killsqlite", KILLS)
    f = out["figures"]
    reliability_report.append({
        "scenario": "kill-9-random-checkpoints", "database": "sqlite", "runs": out["rounds"],
        "kills": out["kills"], "kill_points": out["points"], **f.as_dict(),
        "recovery_s": out["recovery_s"], "elapsed_s": out["elapsed_s"],
        "command": "pytest tests/reliability/test_kill9.py -k sqlite (MAILBOT_FAULT_KILLS=50)",
    })  # fmt: skip
    assert out["kills"] >= KILLS
    # The kills landed all over the message path, not at one spot.
    assert len(out["points"]) >= 6, out["points"]
    assert out["inbox_left"] == 0
    assert_nothing_lost(f)
    if out["points"].get("after-smtp-send", 0) == 0:
        assert f.duplicates == 0
