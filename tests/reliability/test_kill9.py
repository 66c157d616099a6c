"""kill -9 of the real bot at random moments while posts keep arriving and jobs are due; SQLite and PostgreSQL.

Two kinds of process are killed. `mailbot run --once` (cron mode: fetch, catch up due jobs, deliver)
gets a `MAILBOT_CRASH_AT` spec (see crash_spec): every checkpoint it passes (after fetch, before
commit, after commit, before/after the IMAP move, after claim, inside an SMTP transaction, after
SMTP send, after recording, a job before its commit) may kill it; two rounds in ten are instead
killed from outside after a random time, wherever they are. Every other round is `mailbot jobs run`
for a past day's tip or week's summary, killed mid-job or mid-delivery of the job's mail and
retried, as a restart's catch-up would. The loop goes on until enough processes died and every
job period completed; then clean runs must leave nothing lost, every member with every post, and
every tip and summary sent once per period.

After every kill the harness measures what was in flight (envelopes the sink accepted whose status
was never recorded): at most smtp.connections * smtp.inflight_per_connection after a kill during
delivery (after a send, inside a transaction, or from outside), none at any other point, and
every duplicate at the sink is one of those.
"""

from __future__ import annotations

import collections
import json
import os
import random
import statistics
import time
from collections import deque
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from mailbot.config import ImapSettings, load
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
from tests.reliability.inflight import MID_DELIVERY, ROUND_SMTP, WALL_CLOCK, InFlight, Kill
from tests.reliability.jobmail import assert_jobs_once, check_jobs, seed_jobs

pytestmark = pytest.mark.faults

KILLS = int(os.environ.get("MAILBOT_FAULT_KILLS", "50"))
# PostgreSQL's loop is shorter: each process start costs more there, and the checkpoints it
# passes are the same code; its own concern is its transactions and locks under kill -9.
KILLS_PG = int(os.environ.get("MAILBOT_FAULT_KILLS_PG", "30"))
LOOPS = {"sqlite": (KILLS, "MAILBOT_FAULT_KILLS"), "postgresql": (KILLS_PG, "MAILBOT_FAULT_KILLS_PG")}
PROBABILITY = 0.1
RUN_POINTS = [c for c in CHECKPOINTS if c != "job-before-commit"]  # aimed `run --once` rounds
WALL_CLOCK_ROUNDS = (7, 9)  # round numbers (mod 10) killed from outside
# An outside kill comes after this share of the time recent `run --once` rounds took to the end
# (about 1 s of start-up, then fetching, storing and delivering the backlog), so it lands in the
# work, not after the process has exited; before any round has ended, after 1-3 s.
WALL_CLOCK_SHARE = (0.35, 1.0)
WALL_CLOCK_FIRST = (1.0, 3.0)
# The attempts at one job period, in order: killed before the job's commit, then mid-delivery of
# its mail, after its first recorded delivery round, anywhere at random; then one that passes no
# job-before-commit (the period is done) and completes unless a delivery checkpoint hits.
JOB_SPECS = ("job-before-commit", "after-smtp-send@1", "deliver-after-record@1", "random:{seed}:0.3")
TIP_DAYS = 4
SUMMARY_WEEKS = 2


def crash_spec(round_: int) -> str:
    """The even rounds: every checkpoint dies with p. The odd ones, by round number mod 10: 5 aims
    at the first SMTP round's recorded sends, when several posts' copies are waiting (the bound's
    real test); 3 at the first transaction's DATA, when the relay holds it open; 7 and 9 are killed
    from outside instead ('', see wall_clock_delay); 1 aims at a uniformly chosen checkpoint and hit,
    since pure probability kills mostly during ingest (it passes the most checkpoints).
    """
    if round_ % 10 == 5:
        return "after-smtp-send@1"
    if round_ % 10 == 3:
        return "smtp-mid-transaction@1"
    if round_ % 10 in WALL_CLOCK_ROUNDS:
        return ""
    if round_ % 2 == 0:
        return f"random:{round_}:{PROBABILITY}"
    rng = random.Random(round_)
    return f"{rng.choice(RUN_POINTS)}@{rng.randint(1, 3)}"


def wall_clock_delay(round_: int, durations: list[float]) -> float | None:
    """Seconds after which the round's process is killed from outside (two rounds in ten), drawn
    against how long the last rounds that ran to their end took (`durations`)."""
    if round_ % 10 not in WALL_CLOCK_ROUNDS:
        return None
    rng = random.Random(round_)
    if not durations:
        return rng.uniform(*WALL_CLOCK_FIRST)
    return rng.uniform(*WALL_CLOCK_SHARE) * statistics.median(durations[-10:])


def job_invocations(cfg: Path) -> list[tuple[str, str]]:
    """(job, --now) for past periods, oldest first, none overlapping what run --once catches up.

    Summaries on the Mondays one and two weeks before the latest one; tips for 2..5 days ago;
    each at 09:00 local, after the fire time and within the job's grace.
    """
    tz = load(cfg).communities[0].tz
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday())
    out = [
        ("weekly-summary", monday - timedelta(weeks=k)) for k in range(SUMMARY_WEEKS, 0, -1)
    ] + [("daily-tip", today - timedelta(days=k)) for k in range(TIP_DAYS + 1, 1, -1)]
    return [(job, datetime.combine(day, dtime(9, 0), tzinfo=tz).isoformat()) for job, day in out]


def _last_json(stdout: str) -> dict[str, Any]:
    start = stdout.index("{")  # log lines may precede the JSON
    result: dict[str, Any] = json.loads(stdout[start : stdout.rindex("}") + 1])
    return result


def _kill_loop(
    db_url: str, tmp_path: Path, dovecot: Any, imap: ImapSettings, sink: Any, name: str, kills_wanted: int
) -> dict[str, Any]:
    cfg = write_config(tmp_path, db_url, imap, sink.port, smtp_extra=ROUND_SMTP)
    setup_members(cfg)
    seed_jobs(cfg, age=timedelta(days=30))
    smtp = load(cfg).smtp
    per_round = smtp.connections * smtp.inflight_per_connection
    stream = PostStream(name)
    crash_log = tmp_path / "crashes.log"
    crash_log.touch()
    inflight = InFlight(db_url, sink)
    jobs = deque(job_invocations(cfg))
    job_periods: list[tuple[str, str]] = []
    kills: list[Kill] = []
    durations: list[float] = []  # `run --once` rounds that ran to their end
    rounds = job_rounds = attempt = 0
    started = time.monotonic()
    try:
        with Feeder(dovecot, imap.username, stream, interval=0.15):
            while (len(kills) < kills_wanted or jobs) and rounds < kills_wanted * 4:
                rounds += 1
                delay: float | None = None
                if jobs and rounds % 2 == 0:
                    job, when = jobs[0]
                    spec = JOB_SPECS[attempt % len(JOB_SPECS)].format(seed=rounds)
                    job_rounds += 1
                    attempt += 1
                    process = "jobs-run"
                    res = run_bot(cfg, "jobs", "run", job, "--community", "km-it", "--now", when,
                                  "--format", "json", crash_at=spec, crash_log=crash_log)  # fmt: skip
                    if res.returncode == 0:
                        result = _last_json(res.stdout)
                        assert result["status"] in ("done", "already-done"), result
                        job_periods.append((job, str(result["period"])))
                        jobs.popleft()
                        attempt = 0
                else:
                    process = "run-once"
                    delay = wall_clock_delay(rounds, durations)
                    began_round = time.monotonic()
                    res = run_bot(cfg, "run", "--once", crash_at=crash_spec(rounds), crash_log=crash_log,
                                  kill_after=delay)  # fmt: skip
                    if res.returncode == 0:
                        durations.append(time.monotonic() - began_round)
                if res.returncode == -9:
                    if delay is not None:
                        point = WALL_CLOCK
                    else:
                        point = crash_log.read_text().splitlines()[-1].split()[0]
                    kills.append(Kill(process, point, *inflight.at_kill()))
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
        unexplained = inflight.unexplained_duplicates()
        all_duplicates = inflight.duplicates()
    finally:
        inflight.close()
    return {
        "figures": check_invariants(db_url, stream.posts, sink),
        "jobs": check_jobs(db_url, sink, job_periods), "jobs_left": list(jobs),
        "kills": kills, "rounds": rounds, "job_rounds": job_rounds, "per_round": per_round,
        "unexplained": unexplained, "all_duplicates": all_duplicates,
        "recovery_s": round(recovery, 2), "elapsed_s": round(time.monotonic() - started, 1),
        "inbox_left": len(dovecot.list_uids(imap.username, "INBOX")),
    }  # fmt: skip


def test_kill9_at_random_points_while_posts_stream_in_and_jobs_run(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    database = make_url(db_url).get_backend_name()  # conftest's db_url: sqlite, then postgresql
    kills_wanted, env = LOOPS[database]
    out = _kill_loop(db_url, tmp_path, dovecot, imap_settings, smtp_sink, f"kill{database}", kills_wanted)
    f, jf, kills, per_round = out["figures"], out["jobs"], out["kills"], out["per_round"]
    points = collections.Counter(k.point for k in kills)
    after_send = [k for k in kills if k.point == "after-smtp-send"]
    mid_delivery = [k for k in kills if k.point in MID_DELIVERY]
    mid_job = [k for k in kills if k.process == "jobs-run" or k.point == "job-before-commit"]
    reliability_report.append({
        "scenario": "kill-9-random-checkpoints", "database": database, "runs": out["rounds"],
        "job_runs": out["job_rounds"], "kills": len(kills), "kill_points": dict(points),
        "kills_by_process": dict(collections.Counter(k.process for k in kills)),
        "mid_job_kills": dict(collections.Counter(f"{k.process}:{k.point}" for k in mid_job)),
        "delivery_round": per_round, "kills_after_smtp_send": len(after_send),
        "in_flight_per_kill": [k.in_flight for k in after_send],
        "backlog_at_those_kills": [k.backlog for k in after_send],
        "in_flight_mid_delivery": {p: [k.in_flight for k in mid_delivery if k.point == p] for p in MID_DELIVERY},
        "in_flight": sum(k.in_flight for k in kills), "all_duplicates": out["all_duplicates"],
        **f.as_dict(), **jf.as_dict(),
        "recovery_s": out["recovery_s"], "elapsed_s": out["elapsed_s"],
        "command": f"pytest tests/reliability/test_kill9.py ({env}={kills_wanted})",
    })  # fmt: skip
    assert len(kills) >= kills_wanted
    assert out["jobs_left"] == [], f"job periods never completed: {out['jobs_left']}"
    # The kills landed all over the message path and inside jobs, not at one spot.
    assert len(points) >= 6, points
    job_kills = collections.Counter(k.point for k in kills if k.process == "jobs-run")
    assert job_kills["job-before-commit"] >= TIP_DAYS + SUMMARY_WEEKS, mid_job
    assert job_kills["after-smtp-send"] >= 1, mid_job
    # Inside an SMTP transaction, and from outside at moments no checkpoint chose.
    assert points["smtp-mid-transaction"] >= 1, points
    assert points[WALL_CLOCK] >= 2, points
    # Re-sends are bounded by the delivery round: only a kill during delivery leaves sends unrecorded.
    for k in kills:
        limit = per_round if k.point in MID_DELIVERY else 0
        assert k.in_flight <= limit, f"{k}: {k.in_flight} envelopes sent but unrecorded (round is {per_round})"
    # ...and the bound was really tested: at least one such kill had more waiting than one round.
    assert any(k.backlog > per_round for k in after_send), [(k.in_flight, k.backlog) for k in after_send]
    assert out["unexplained"] == {}, f"duplicates not in flight at any kill: {list(out['unexplained'])[:10]}"
    assert out["inbox_left"] == 0
    assert_nothing_lost(f)
    assert_jobs_once(jf)
    assert jf.periods.get("daily-tip", 0) >= TIP_DAYS and jf.periods.get("weekly-summary", 0) >= SUMMARY_WEEKS
