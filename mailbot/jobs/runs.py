"""Keyed job runs: the (job, community, period) row is written in the same transaction as the outbox rows.

A second instance (or a restart, or a catch-up) that reaches the same key finds the row, or hits the
unique constraint while the first one is still committing, and sends nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.faults import checkpoint
from mailbot.jobs import periods, policy
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.models import JobRun
from mailbot.store.db import transaction
from mailbot.store.models import Community
from mailbot.store.queries import community_row

log = logging.getLogger("mailbot.jobs")


@dataclass
class Sent:
    """What a job body wrote: outbox messages and recipient rows, plus a note for `jobs list`."""

    messages: int = 0
    recipients: int = 0
    detail: str = ""


def already_ran(session: Session, job: str, community_id: int, period: str) -> bool:
    return (
        session.scalar(
            select(JobRun.id).where(
                JobRun.job == job, JobRun.community_id == community_id, JobRun.period == period
            )
        )
        is not None
    )


def claim(session: Session, job: str, community_id: int, period: str, now: datetime) -> JobRun | None:
    """Insert the run row first (so a concurrent twin blocks on the key), or None if it exists.

    No SAVEPOINT here: on SQLite (pysqlite) a savepoint opened before any other write would be
    the outermost transaction, and releasing it would commit the run row on its own. A lost race
    raises IntegrityError out of the flush; run_keyed turns that into "already done".
    """
    if already_ran(session, job, community_id, period):
        return None
    run = JobRun(
        job=job, community_id=community_id, period=period, ran_at=now, messages=0, recipients=0, detail=""
    )
    session.add(run)
    session.flush()  # on PostgreSQL this waits for a concurrent twin's commit, then fails
    return run


def run_keyed(
    env: JobEnv,
    job: str,
    slug: str,
    period: str,
    body: Callable[[Session, Community], Sent],
) -> RunResult:
    """Run `body` once per (job, community, period); its outbox rows commit with the run row."""
    now = env.clock.now()
    try:
        with transaction(env.sessions) as session:
            row = community_row(session, slug)
            run = claim(session, job, row.id, period, now)
            if run is None:
                log.info("job %s %s %s: already done", job, slug, period)
                return RunResult(job, slug, period, "already-done")
            sent = body(session, row)
            run.messages, run.recipients, run.detail = sent.messages, sent.recipients, sent.detail[:500]
            checkpoint("job-before-commit")
    except IntegrityError:
        # The twin committed between our claim and our commit (SQLite has no row lock to wait on).
        log.info("job %s %s %s: lost the race to another instance", job, slug, period)
        return RunResult(job, slug, period, "already-done")
    log.info(
        "job %s %s %s: %d messages to %d recipients %s",
        job, slug, period, sent.messages, sent.recipients, sent.detail,
    )  # fmt: skip
    return RunResult(job, slug, period, "done", sent.messages, sent.recipients, sent.detail)


def thread_period(number: int) -> str:
    """The key of a once-per-thread run ('Q42'): a thread is nudged, or its asker asked, once."""
    return f"Q{number}"


def run_per_thread(
    env: JobEnv,
    job: str,
    community: CommunitySettings,
    fire: datetime,
    numbers: list[int],
    body: Callable[[Session, Community, int], Sent],
    what: str,
) -> RunResult:
    """An hourly job over threads: each thread number is its own keyed run (thread_period), so it
    is mailed once whatever the hour; the hour's result sums them ("3 threads nudged")."""
    done = messages = recipients = 0
    for number in numbers:
        result = run_keyed(env, job, community.slug, thread_period(number), functools.partial(_with_number, body, number))
        if result.status == "done":
            done, messages, recipients = done + 1, messages + result.messages, recipients + result.recipients
    key = fire.astimezone(community.tz).strftime("%Y-%m-%dT%H")
    return RunResult(job, community.slug, key, "done", messages, recipients, f"{done} {what}")


def _with_number(body: Callable[[Session, Community, int], Sent], number: int, session: Session, row: Community) -> Sent:
    return body(session, row, number)


def run_monthly(
    env: JobEnv,
    job: str,
    community: CommunitySettings,
    fire: datetime,
    switch: str,
    body: Callable[[Session, Community, int], Sent],
) -> RunResult:
    """A monthly job keyed by the fire time's month; off while the setting `switch` is 0, else its
    value goes to `body` (days of silence, months without review). Scheduled by policy.monthly."""
    value = int(policy.setting(community, switch))
    key = periods.month_key(fire, community.tz)
    if not value:
        return RunResult(job, community.slug, key, "disabled")
    return run_keyed(env, job, community.slug, key, lambda session, row: body(session, row, value))
