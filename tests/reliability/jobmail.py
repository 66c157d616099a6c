"""Scheduled jobs under faults: seed a community that has tips and sponsors, then judge what the jobs sent.

The invariant is the one a member would notice: one KM tip per day and one weekly summary per week,
each arriving once per recipient (an extra copy only for an envelope in flight at a kill).
"""

from __future__ import annotations

import collections
import email
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from mailbot.app import App
from mailbot.config import load
from mailbot.jobs import tips
from mailbot.jobs.models import JobRun
from mailbot.store.db import make_engine, make_session_factory, transaction
from mailbot.store.models import Member, Outbox, OutboxRecipient
from mailbot.store.queries import community_row
from tests.reliability.harness import REPO
from tests.reliability.inflight import message_id

SPONSORS = ("suda@example.org", "anan@example.org")
JOB_KINDS = {"tip": "daily-tip", "summary": "weekly-summary"}
_SUMMARY = re.compile(r"(?:สรุปประจำสัปดาห์|Weekly summary)\s+(.+?):")


def seed_jobs(cfg: Path, *, age: timedelta) -> None:
    """Import the shipped tip library, make two members sponsors, and date the community `age` back.

    A community that has existed for a while is what a cron deployment runs: `run --once` then
    finds today's tip and this week's summary due, as it would in production.
    """
    app = App(load(cfg))
    try:
        app.prepare()
        with transaction(app.sessions) as s:
            row = community_row(s, "km-it")
            now = app.clock.now()
            for item in tips.read_dir(REPO / "tips"):
                if not isinstance(item, tips.TipError):
                    tips.upsert(s, row.id, item, now)
            s.execute(
                update(Member)
                .where(Member.community_id == row.id, Member.email.in_(SPONSORS))
                .values(role="sponsor")
            )
            row.created_at = now - age
    finally:
        app.engine.dispose()


def job_label(data: bytes) -> tuple[str, str] | None:
    """(job, period as the reader sees it) of a tip or summary mail; None for any other mail.

    Read from the mail itself, not the database, so a second send for one period shows up even
    if the database were wrong about it: the tip's first text line carries its date, the
    summary's subject its week.
    """
    msg = email.message_from_bytes(data, policy=email.policy.default)
    subject = str(msg["Subject"] or "")
    if "KM วันละนิด" in subject or "KM tip" in subject:
        body = msg.get_body(("plain",))
        first = body.get_content().strip().splitlines()[0] if body is not None else subject
        parts = [p.strip() for p in first.split("·")]
        return "daily-tip", parts[1] if len(parts) > 1 else first
    found = _SUMMARY.search(subject)
    return ("weekly-summary", found.group(1)) if found else None


@dataclass
class JobFigures:
    periods: dict[str, int] = field(default_factory=dict)  # job -> periods whose mail went out
    mails: int = 0  # tip/summary envelopes expected (outbox recipients)
    delivered: int = 0  # copies at the sink
    duplicates: int = 0  # copies beyond the first per (mail, recipient)
    double_sends: list[str] = field(default_factory=list)  # a period mailed more than once
    missing: list[str] = field(default_factory=list)  # an expected (mail, recipient) never arrived
    runs_without_mail: list[str] = field(default_factory=list)
    periods_not_run: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_periods": self.periods, "job_envelopes": self.mails, "job_delivered": self.delivered,
            "job_duplicates": self.duplicates, "job_double_sends": len(self.double_sends),
            "job_missing": len(self.missing),
        }  # fmt: skip


def check_jobs(db_url: str, sink: Any, expected: Iterable[tuple[str, str]]) -> JobFigures:
    """Compare the job runs and their outbox rows with what the sink received, per (job, period)."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            runs = s.execute(select(JobRun.job, JobRun.period, JobRun.messages)).all()
            boxes = s.execute(
                select(Outbox.id, Outbox.kind, Outbox.data).where(Outbox.kind.in_(list(JOB_KINDS)))
            ).all()
            rcpts = s.execute(
                select(OutboxRecipient.outbox_id, OutboxRecipient.address).where(
                    OutboxRecipient.outbox_id.in_([b.id for b in boxes] or [0])
                )
            ).all()
    finally:
        engine.dispose()
    f = JobFigures()
    queued: dict[tuple[str, str], set[str]] = collections.defaultdict(set)  # label -> Message-IDs
    mid_of: dict[int, str] = {}
    for box in boxes:
        label = job_label(box.data)
        assert label is not None and label[0] == JOB_KINDS[box.kind], f"unrecognised {box.kind} mail"
        mid_of[box.id] = message_id(box.data)
        queued[label].add(mid_of[box.id])
    seen: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    copies: collections.Counter[tuple[str, str]] = collections.Counter()
    for m in list(sink.messages):
        label = job_label(m.data)
        if label is None:
            continue
        mid = message_id(m.data)
        seen[label].add(mid)
        for rcpt in m.rcpt_tos:
            copies[(mid, rcpt.lower())] += 1
    for label in sorted(set(queued) | set(seen)):
        mids = queued[label] | seen[label]
        if len(mids) != 1:
            f.double_sends.append(f"{label}: {len(mids)} different mails")
    f.periods = dict(collections.Counter(job for job, _ in queued))
    with_mail = collections.Counter(job for job, _, messages in runs if messages and job in JOB_KINDS.values())
    for job, n in with_mail.items():
        if n != f.periods.get(job, 0):
            f.runs_without_mail.append(f"{job}: {n} runs with mail, {f.periods.get(job, 0)} periods mailed")
    done = {(job, period) for job, period, _ in runs}
    f.periods_not_run = [f"{job} {period}" for job, period in expected if (job, period) not in done]
    for box_id, address in rcpts:
        n = copies.get((mid_of[box_id], address.lower()), 0)
        f.mails += 1
        f.delivered += n
        if n == 0:
            f.missing.append(f"{mid_of[box_id]}->{address}")
        f.duplicates += max(0, n - 1)
    return f


def assert_jobs_once(f: JobFigures) -> None:
    assert f.double_sends == [], f"a scheduled job sent twice for one period: {f.double_sends}"
    assert f.runs_without_mail == [], f.runs_without_mail
    assert f.periods_not_run == [], f"job periods never completed: {f.periods_not_run}"
    assert f.missing == [], f"job mail not delivered: {f.missing[:10]}"
