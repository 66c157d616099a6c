"""Scheduled jobs (APScheduler 3.x): daily tip, weekly summary, digests, nudges, knowledge review.

JOBS is the one table of job names; every job is also runnable by hand (`mailbot jobs run`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select

from mailbot.config import CommunitySettings
from mailbot.jobs import accept_offer, daily_tip, digest, kb_review, nudges, weekly_summary
from mailbot.jobs.base import JobEnv, RunResult
from mailbot.jobs.periods import latest_due
from mailbot.jobs.policy import Schedule
from mailbot.store.models import Community

if TYPE_CHECKING:
    from mailbot.app import App

log = logging.getLogger("mailbot.jobs")


@dataclass(frozen=True)
class JobSpec:
    name: str  # stable kebab-case id, stored in job_runs.job
    summary: str
    schedule: Callable[[CommunitySettings], Schedule | None]  # None: off for this community
    run: Callable[[JobEnv, CommunitySettings, datetime], RunResult]
    # How late a missed run may still go out (after downtime): one coalesced run, not one per miss.
    grace: timedelta


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("daily-tip", "KM tip of the day to every member", daily_tip.schedule, daily_tip.run,
                timedelta(hours=12)),
        JobSpec("weekly-summary", "weekly summary with trend chart to sponsors", weekly_summary.schedule,
                weekly_summary.run, timedelta(days=6)),
        JobSpec("daily-digest", "digest of yesterday's threads to daily readers",
                lambda c: digest.schedule(c, "daily"), partial(digest.run, job="daily-digest"),
                timedelta(hours=20)),
        JobSpec("weekly-digest", "digest of last week's threads to weekly readers",
                lambda c: digest.schedule(c, "weekly"), partial(digest.run, job="weekly-digest"),
                timedelta(days=6)),
        JobSpec("nudge-unanswered", "unanswered questions to facilitators and topic experts",
                nudges.nudge_schedule, nudges.run_nudges, timedelta(hours=1)),
        JobSpec("accept-offer", "askers of answered, unsolved questions asked once whether an answer solved it",
                accept_offer.schedule, accept_offer.run, timedelta(hours=1)),
        JobSpec("reminder-silent", "monthly reminder to members silent for long",
                nudges.reminder_schedule, nudges.run_reminder, timedelta(days=7)),
        JobSpec("kb-review", "monthly: entries unconfirmed for long marked 'may be out of date', listed to scribes",
                kb_review.schedule, kb_review.run, timedelta(days=7)),
    )
}  # fmt: skip


def run_job(
    env: JobEnv, name: str, community: CommunitySettings, now: datetime | None = None, *, by_hand: bool = False
) -> RunResult:
    """Run job `name` for the latest fire time at or before `now` (default: the env's clock).

    `by_hand` (`mailbot jobs run`): the operator asked for it, so a fire time past the job's catch-up
    window still runs (yesterday's tip at midnight); it is keyed all the same, never sent twice."""
    spec = JOBS[name]
    schedule = spec.schedule(community)
    now = now or env.clock.now()
    if schedule is None:
        return RunResult(name, community.slug, "", "disabled")
    fire = latest_due(schedule, now, community.tz)
    if now - fire > spec.grace and not by_hand:
        return RunResult(name, community.slug, fire.isoformat(), "missed", detail="too late to catch up")
    try:
        return spec.run(env, community, fire)
    except Exception as exc:  # a broken job must not take the scheduler (or the other jobs) down
        log.exception("job %s for %s failed", name, community.slug)
        return RunResult(name, community.slug, fire.isoformat(), "failed", detail=str(exc)[:200])


def catch_up(env: JobEnv, communities: list[CommunitySettings]) -> list[RunResult]:
    """At start-up: run every job whose latest fire time passed while we were down (keyed: no repeats).

    A fire time from before the community existed was not missed, so a fresh install does not
    open with an empty weekly summary.
    """
    with env.sessions() as session:
        born = dict(session.execute(select(Community.slug, Community.created_at)).all())
    now = env.clock.now()
    results = []
    for c in communities:
        for name in JOBS:
            schedule = JOBS[name].schedule(c)
            if schedule and c.slug in born and latest_due(schedule, now, c.tz) < born[c.slug]:
                results.append(RunResult(name, c.slug, "", "skipped", detail="before the community existed"))
                continue
            results.append(run_job(env, name, c))
    return results


def build_scheduler(env: JobEnv, communities: list[CommunitySettings], wake: Callable[[], None]) -> object:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    )
    for community in communities:
        for name, spec in JOBS.items():
            schedule = spec.schedule(community)
            if schedule is None:
                continue

            def fire(name: str = name, community: CommunitySettings = community) -> None:
                result = run_job(env, name, community)
                if result.messages:
                    wake()

            scheduler.add_job(
                fire,
                CronTrigger(timezone=community.tz, **schedule.cron_kwargs()),
                id=f"{name}:{community.slug}",
                name=f"{name} {community.slug}",
            )
    return scheduler


def _maintenance(app: App) -> None:
    from mailbot.moderation.maintenance import tick

    try:
        counts = tick(app)
    except Exception:  # noqa: BLE001 - retried next hour; never takes the scheduler down
        log.exception("moderation maintenance failed")
        return
    if any(counts.values()):
        log.info("moderation maintenance: %s", counts)
        app.deliverer.wake.set()


def start_scheduler(app: App, stop: threading.Event) -> threading.Thread | None:
    """Start the scheduler for `app`; returns a thread to join on shutdown."""
    env = JobEnv.from_app(app)
    communities = list(app.settings.communities)

    def main() -> None:
        results = catch_up(env, communities)
        if any(r.messages for r in results):
            app.deliverer.wake.set()
        scheduler = build_scheduler(env, communities, app.deliverer.wake.set)
        # Moderation upkeep (expire held posts, bounce re-enable probes) is state-driven and
        # idempotent, so a plain hourly interval is enough; no (job, period) key needed.
        scheduler.add_job(  # type: ignore[attr-defined]
            _maintenance, "interval", hours=1, args=(app,), id="moderation-maintenance"
        )
        scheduler.start()  # type: ignore[attr-defined]
        try:
            stop.wait()
        finally:
            scheduler.shutdown(wait=True)  # type: ignore[attr-defined]

    thread = threading.Thread(target=main, name="scheduler", daemon=True)
    thread.start()
    return thread
