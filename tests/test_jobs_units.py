"""Schedules and periods, the tip library (front matter, rotation, the shipped tips/), the CLI, and the
`tip` / `digest` e-mail commands through the real pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot.cli import main
from mailbot.clock import FrozenClock
from mailbot.jobs import periods, tips
from mailbot.jobs.models import Tip
from mailbot.jobs.policy import Schedule
from mailbot.store.db import transaction
from mailbot.store.models import Member, Outbox
from mailbot.store.queries import community_row
from tests.test_jobs_world import (
    BKK,
    add_people,
    add_tips,
    local,
    make_app,
    make_settings,
    outbox,
    text_of,
)

REPO = Path(__file__).resolve().parent.parent


# --- schedules and periods -----------------------------------------------------------------------------------
def test_latest_due_is_the_last_fire_time_in_local_time() -> None:
    daily = Schedule("day", 8, 30)
    assert periods.latest_due(daily, local(2026, 11, 17, 8, 29), BKK) == local(2026, 11, 16, 8, 30)
    assert periods.latest_due(daily, local(2026, 11, 17, 8, 30), BKK) == local(2026, 11, 17, 8, 30)
    # 01:00 UTC is already 08:00 in Bangkok: the zone decides, not UTC.
    assert periods.latest_due(daily, datetime(2026, 11, 17, 1, 45, tzinfo=UTC), BKK) == local(2026, 11, 17, 8, 30)
    weekly = Schedule("week", 8, 0, weekday=0)
    assert periods.latest_due(weekly, local(2026, 11, 22, 23, 0), BKK) == local(2026, 11, 16, 8, 0)
    monthly = Schedule("month", 9, 0, day=1)
    assert periods.latest_due(monthly, local(2026, 11, 30, 9, 0), BKK) == local(2026, 11, 1, 9, 0)
    hourly = Schedule("hour", minute=5)
    assert periods.latest_due(hourly, local(2026, 11, 17, 10, 4), BKK) == local(2026, 11, 17, 9, 5)


def test_week_periods() -> None:
    p = periods.previous_seven_days(local(2026, 11, 23, 8, 0), BKK)
    assert (p.key, p.start, p.end) == ("2026-W47", local(2026, 11, 16), local(2026, 11, 23))
    assert periods.iso_week("2026-W47", BKK) == p
    assert periods.iso_week("2027-W01", BKK).start == local(2027, 1, 4)
    with pytest.raises(ValueError):
        periods.iso_week("2026-47", BKK)


# --- tip files -----------------------------------------------------------------------------------------------
def test_front_matter_and_markdown_blocks() -> None:
    draft = tips.parse_tip(
        "---\ntitle: ปริ้นไม่ออก\ntopic: Printer\nauthor: สมชาย\n---\n\nข้อแรก **สำคัญ**\n\n- หนึ่ง\n- สอง\n\n1. ก\n2. ข\n",
        "Printer 01",
    )
    assert (draft.key, draft.title, draft.topic, draft.source) == ("printer-01", "ปริ้นไม่ออก", "printer", "สมชาย")
    assert [b["kind"] for b in tips.blocks(draft.body)] == ["p", "ul", "ol"]
    assert tips.blocks(draft.body)[0]["text"] == "ข้อแรก สำคัญ"
    assert tips.parse_tip("# Heading title\n\nbody", "x").title == "Heading title"
    for bad in ("---\ntitle: x\n", "---\ntopic: y\n---\nbody", "---\ntitle: t\n---\n"):
        with pytest.raises(tips.TipError):
            tips.parse_tip(bad, "bad")


def test_shipped_tip_library_is_complete() -> None:
    drafts = list(tips.read_dir(REPO / "tips"))
    assert all(isinstance(d, tips.TipDraft) for d in drafts), drafts
    assert 15 <= len(drafts) <= 25
    topics = {d.topic for d in drafts if isinstance(d, tips.TipDraft)}
    assert {"virus", "printer", "internet", "wifi", "e-book", "km-basics"} <= topics
    english = [d for d in drafts if isinstance(d, tips.TipDraft) and d.title.isascii()]
    assert 2 <= len(english) < len(drafts) // 2


def test_pick_next_skips_disabled_and_pending(tmp_path: Path, sqlite_url: str) -> None:
    app = make_app(make_settings(tmp_path, sqlite_url), FrozenClock(local(2026, 11, 2, 9, 0)))
    add_tips(app, per_topic=1)
    with transaction(app.sessions) as session:
        cid = community_row(session, "km-it").id
        first = tips.pick_next(session, cid)
        assert first is not None and first.key == "virus-0"
        tips.set_status(session, cid, first.id, "disabled")
        second = tips.pick_next(session, cid)
        assert second is not None and second.key == "printer-0"
        second.status = "pending"
        third = tips.pick_next(session, cid)
        assert third is not None and third.key == "wifi-0"


# --- the CLI -------------------------------------------------------------------------------------------------
def _config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "mailbot.toml"
    cfg.write_text(
        f'[database]\nurl = "{db_url}"\n[paths]\ndata_dir = "{tmp_path / "data"}"\n'
        '[[community]]\nslug = "km-it"\naddress = "km-it@example.org"\nname = "ชุมชน KM-IT"\n',
        encoding="utf-8",
    )
    return cfg


def test_cli_tips_jobs_and_summary_preview(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_config(tmp_path, sqlite_url))
    assert main(["--config", cfg, "members", "add", "km-it", "boss@example.org", "--role", "sponsor"]) == 0
    assert main(["--config", cfg, "tips", "import", str(REPO / "tips")]) == 0
    assert "imported 22 new tips" in capsys.readouterr().out
    assert main(["--config", cfg, "tips", "import", str(REPO / "tips")]) == 0
    assert "imported 0 new tips, 22 updated" in capsys.readouterr().out
    assert main(["--config", cfg, "tips", "disable", "1"]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "tips", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 22 and listed[0]["status"] == "disabled"
    run = ["--config", cfg, "jobs", "run", "daily-tip", "--now", "2026-11-23T09:00+07:00", "--format", "json"]
    assert main(run) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["status"] == "done" and first["period"] == "2026-11-23" and first["recipients"] == 1
    assert main(run) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "already-done"
    # By hand, past the scheduler's catch-up window (the tip slot was 08:30, now it is past midnight):
    # the operator asked, so it runs, keyed as ever.
    late = ["--config", cfg, "jobs", "run", "daily-tip", "--now", "2026-11-25T00:30+07:00", "--format", "json"]
    assert main(late) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["status"] == "done" and second["period"] == "2026-11-24" and second["recipients"] == 1
    out = tmp_path / "w47.html"
    assert main(["--config", cfg, "summary", "preview", "km-it", "--week", "2026-W47", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "2026-W47" in html and 'src="w47.png"' in html and out.with_suffix(".png").stat().st_size > 1000
    assert "สรุปประจำสัปดาห์" in capsys.readouterr().out
    assert main(["--config", cfg, "jobs", "list", "--format", "json"]) == 0
    assert [r["job"] for r in json.loads(capsys.readouterr().out)] == ["daily-tip", "daily-tip"]
    assert main(["--config", cfg, "jobs", "run", "no-such-job"]) == 2


# --- e-mail commands through the pipeline -------------------------------------------------------------------
def _mail(sender: str, to: str, subject: str, body: str, msgid: str) -> bytes:
    return (
        # Our MTA vouches for the sender (DMARC pass), so state changes need no confirmation round-trip.
        "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\n"
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{msgid}@example.org>\r\n"
        f"Date: Mon, 23 Nov 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def test_digest_and_tip_commands_by_mail(tmp_path: Path, sqlite_url: str) -> None:
    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    app = make_app(make_settings(tmp_path, sqlite_url), clock)
    add_people(app, local(2026, 10, 1, 9, 0))
    request = app.settings.communities[0].request_address

    app.ingest(_mail("m3@example.org", request, "digest", "digest weekly", "c1"), source="cli", source_ref="test")
    with app.sessions() as session:
        assert session.scalar(select(Member.delivery).where(Member.email == "m3@example.org")) == "weekly"

    app.ingest(_mail("m3@example.org", request, "tip", "tip ปิดจอเมื่อไม่ใช้ #energy\nประหยัดไฟและยืดอายุจอ\nตั้งพักหน้าจอ 5 นาที",
                     "c2"), source="cli", source_ref="test")  # fmt: skip
    with app.sessions() as session:
        tip = session.scalar(select(Tip).where(Tip.status == "pending"))
        assert tip is not None and tip.title == "ปิดจอเมื่อไม่ใช้" and tip.topic == "energy"
        assert "ตั้งพักหน้าจอ 5 นาที" in tip.body and tip.submitted_by == "m3@example.org"
        tip_id = tip.id
    [(approval, rcpts)] = outbox(app, "tip-approval")
    assert rcpts == ["fac@example.org"] and f"tip approve {tip_id}" in str(approval["Subject"])
    assert any("ปิดจอเมื่อไม่ใช้" in text_of(m) for m, _ in outbox(app, "command-tip-submitted"))

    # A member who is not a facilitator cannot approve; the facilitator approves by replying.
    app.ingest(_mail("m4@example.org", request, f"Re: {approval['Subject']}", "ok", "c3"), source="cli", source_ref="test")
    with app.sessions() as session:
        assert session.get(Tip, tip_id).status == "pending"  # type: ignore[union-attr]
    app.ingest(_mail("fac@example.org", request, f"Re: {approval['Subject']}", "เห็นด้วยครับ", "c4"), source="cli", source_ref="test")
    with app.sessions() as session:
        assert session.get(Tip, tip_id).status == "active"  # type: ignore[union-attr]
        assert session.scalar(select(Outbox.id).where(Outbox.kind == "tip")) is None

    # The approved tip is the only one in the library: it goes out next, and `tip` asks for it again.
    from mailbot.jobs import run_job
    from mailbot.jobs.base import JobEnv

    assert run_job(JobEnv.from_app(app), "daily-tip", app.settings.communities[0]).status == "done"
    app.ingest(_mail("m5@example.org", request, "tip", "tip", "c5"), source="cli", source_ref="test")
    [(again, rcpts)] = outbox(app, "command-daily-tip")
    assert rcpts == ["m5@example.org"] and "KM วันละนิด #1: ปิดจอเมื่อไม่ใช้" in str(again["Subject"])


def test_a_tip_shared_the_way_the_tip_mail_says(tmp_path: Path, sqlite_url: str) -> None:
    """The daily tip asks for "tip" on the first line and the tip below it (its HTML link puts "tip"
    in the subject): both submit the tip, and nothing of it comes back as "not understood"."""
    app = make_app(make_settings(tmp_path, sqlite_url), FrozenClock(local(2026, 11, 23, 9, 0)))
    add_people(app, local(2026, 10, 1, 9, 0))
    request = app.settings.communities[0].request_address
    app.ingest(_mail("m3@example.org", request, "เคล็ดลับ", "tip\nล้างแคชเมื่อเว็บภายในไม่ขึ้น\nกด Ctrl+Shift+Delete แล้วล้างแคช",
                     "s1"), source="cli", source_ref="test")  # fmt: skip
    app.ingest(_mail("m4@example.org", request, "tip", "ปิดจอเมื่อไม่ใช้\nตั้งพักหน้าจอ 5 นาที", "s2"),
               source="cli", source_ref="test")  # fmt: skip
    with app.sessions() as session:
        pending = {t.title: (t.body, t.submitted_by) for t in session.scalars(select(Tip).where(Tip.status == "pending"))}
    assert pending == {
        "ล้างแคชเมื่อเว็บภายในไม่ขึ้น": ("กด Ctrl+Shift+Delete แล้วล้างแคช", "m3@example.org"),
        "ปิดจอเมื่อไม่ใช้": ("ตั้งพักหน้าจอ 5 นาที", "m4@example.org"),
    }
    replies = [text_of(m) for m, _ in outbox(app, "command-tip-submitted")] + [text_of(m) for m, _ in outbox(app, "command-reply")]
    assert len(replies) == 2 and not any("ยังไม่เข้าใจ" in r for r in replies)


# --- wiring ----------------------------------------------------------------------------------------------------
def test_cron_triggers_fire_in_the_community_timezone(tmp_path: Path, sqlite_url: str) -> None:
    from mailbot.jobs import build_scheduler
    from mailbot.jobs.base import JobEnv

    app = make_app(make_settings(tmp_path, sqlite_url, tip_time="07:15"), FrozenClock(local(2026, 11, 2, 9, 0)))
    scheduler = build_scheduler(JobEnv.from_app(app), app.settings.communities, lambda: None)
    scheduler.start(paused=True)  # type: ignore[attr-defined]
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}  # type: ignore[attr-defined]
        assert set(jobs) == {"daily-tip:km-it", "weekly-summary:km-it", "daily-digest:km-it",
                             "weekly-digest:km-it", "nudge-unanswered:km-it", "accept-offer:km-it",
                             "kb-review:km-it"}  # reminder: off by default; knowledge review: on
        tip = jobs["daily-tip:km-it"].trigger.get_next_fire_time(None, local(2026, 11, 2, 9, 0))
        assert tip == local(2026, 11, 3, 7, 15) and tip.utcoffset() == timedelta(hours=7)
        summary = jobs["weekly-summary:km-it"].trigger.get_next_fire_time(None, local(2026, 11, 2, 9, 0))
        assert summary == local(2026, 11, 9, 8, 0)
        review = jobs["kb-review:km-it"].trigger.get_next_fire_time(None, local(2026, 11, 2, 9, 0))
        assert review == local(2026, 12, 1, 9, 0)  # monthly, reminder_day at reminder_time
    finally:
        scheduler.shutdown(wait=False)  # type: ignore[attr-defined]


def test_migration_matches_the_models(tmp_path: Path, db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mailbot.store.all_models import metadata

    app = make_app(make_settings(tmp_path, db_url), FrozenClock(local(2026, 11, 2, 9, 0)))
    ours = {"job_runs", "tips", "tip_sends"}
    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)

    def table_of(d: object) -> str | None:
        item = d[0] if isinstance(d, list) else d
        for part in item[1:] if isinstance(item, tuple) else ():
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(part, "table", None)
            if table is not None and getattr(table, "name", None) in ours:
                return str(table.name)
            if name in ours:
                return str(name)
        return None

    assert [d for d in diff if table_of(d)] == []


def test_digest_names_people_as_the_member_list_does(tmp_path: Path, sqlite_url: str) -> None:
    from mailbot.jobs import digest

    clock = FrozenClock(local(2026, 11, 23, 9, 0))
    app = make_app(make_settings(tmp_path, sqlite_url), clock)
    add_people(app, local(2026, 10, 1, 9, 0))
    community = app.settings.communities[0]
    # A phone's bare address: the digest shows the member list's name, not the address.
    app.ingest(_mail("m1@example.org", community.address, "VPN ช้า", "ใครเป็นบ้าง", "p1"), source="cli", source_ref="t")
    with app.sessions() as session:
        cid = community_row(session, "km-it").id
        day = periods.previous_day(local(2026, 11, 24, 7, 0), community.tz)
        [group] = digest.threads(session, community, cid, day)
    assert [m["author"] for m in group["messages"]] == ["สมชาย"]
