"""Per-community scheduling settings, read in ONE place with defaults until config.py carries them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mailbot.config import CommunitySettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

def setting(community: CommunitySettings, name: str) -> Any:
    """A scheduling setting of the community (defaults live in mailbot/config.py)."""
    return getattr(community, name)


@dataclass(frozen=True)
class Schedule:
    """When a job fires, in the community's local time: every day, hour, week or month."""

    every: str  # hour | day | week | month
    hour: int = 0
    minute: int = 0
    weekday: int = 0  # 0 = Monday
    day: int = 1

    def cron_kwargs(self) -> dict[str, Any]:
        if self.every == "hour":
            return {"minute": self.minute}
        if self.every == "day":
            return {"hour": self.hour, "minute": self.minute}
        if self.every == "week":
            return {"day_of_week": WEEKDAYS[self.weekday], "hour": self.hour, "minute": self.minute}
        return {"day": self.day, "hour": self.hour, "minute": self.minute}


def monthly(community: CommunitySettings, switch: str) -> Schedule | None:
    """The monthly mail's schedule (reminder_day at reminder_time), or None while setting `switch` is 0."""
    if not int(setting(community, switch)):
        return None
    hour, minute = parse_time(setting(community, "reminder_time"))
    return Schedule("month", hour, minute, day=int(setting(community, "reminder_day")))


def parse_time(value: str) -> tuple[int, int]:
    hh, _, mm = str(value).partition(":")
    hour, minute = int(hh), int(mm or 0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"bad time of day {value!r} (expected HH:MM)")
    return hour, minute


def weekday(value: str) -> int:
    try:
        return WEEKDAYS.index(str(value).strip().lower()[:3])
    except ValueError:
        raise ValueError(f"bad weekday {value!r} (expected one of {', '.join(WEEKDAYS)})") from None


def holidays(community: CommunitySettings) -> set[date]:
    return {date.fromisoformat(str(d)) for d in setting(community, "tip_holidays")}


def problems(community: CommunitySettings) -> list[str]:
    """Human-readable errors in the scheduling settings (for `mailbot check` and start-up)."""
    out: list[str] = []
    for name in ("tip_time", "summary_time", "digest_time", "reminder_time"):
        try:
            parse_time(setting(community, name))
        except ValueError as exc:
            out.append(f"community {community.slug!r}: {name}: {exc}")
    for name in ("summary_day", "weekly_digest_day"):
        try:
            weekday(setting(community, name))
        except ValueError as exc:
            out.append(f"community {community.slug!r}: {name}: {exc}")
    try:
        holidays(community)
    except ValueError as exc:
        out.append(f"community {community.slug!r}: tip_holidays: {exc}")
    return out
