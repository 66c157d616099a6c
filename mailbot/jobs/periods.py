"""Fire times and periods: the latest due occurrence of a schedule and the interval a run covers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailbot.jobs.policy import Schedule

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Period:
    key: str  # the run key: 2026-11-17 | 2026-W47 | 2026-11
    start: datetime  # aware, the covered interval [start, end)
    end: datetime


def latest_due(schedule: Schedule, now: datetime, tz: ZoneInfo) -> datetime:
    """The last fire time at or before `now` (aware, local): what a coalesced catch-up runs."""
    local = now.astimezone(tz)
    if schedule.every == "hour":
        fire = local.replace(minute=schedule.minute, second=0, microsecond=0)
        return fire if fire <= local else fire - timedelta(hours=1)
    at = time(schedule.hour, schedule.minute)
    day = local.date()
    for _ in range(400):  # at most a year and a bit back for monthly schedules
        if (
            schedule.every == "day"
            or (schedule.every == "week" and day.weekday() == schedule.weekday)
            or (schedule.every == "month" and day.day == schedule.day)
        ):
            fire = datetime.combine(day, at, tzinfo=tz)
            if fire <= local:
                return fire
        day -= timedelta(days=1)
    raise ValueError(f"schedule {schedule} never fires")


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def day_period(day: date, tz: ZoneInfo) -> Period:
    return Period(day.isoformat(), midnight(day, tz), midnight(day + timedelta(days=1), tz))


def previous_day(fire: datetime, tz: ZoneInfo) -> Period:
    """The local day before the fire date (daily digests)."""
    return day_period(fire.astimezone(tz).date() - timedelta(days=1), tz)


def previous_seven_days(fire: datetime, tz: ZoneInfo) -> Period:
    """The seven local days before the fire date, keyed by the ISO week of their last day."""
    end = fire.astimezone(tz).date()
    start = end - timedelta(days=7)
    return Period(week_key(end - timedelta(days=1)), midnight(start, tz), midnight(end, tz))


def iso_week(key: str, tz: ZoneInfo) -> Period:
    """'2026-W47' -> Monday 00:00 to the next Monday 00:00, local."""
    m = _WEEK_RE.match(key.strip())
    if not m:
        raise ValueError(f"bad week {key!r} (expected YYYY-Www, e.g. 2026-W47)")
    monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    return Period(week_key(monday), midnight(monday, tz), midnight(monday + timedelta(days=7), tz))


def month_key(fire: datetime, tz: ZoneInfo) -> str:
    return fire.astimezone(tz).strftime("%Y-%m")
