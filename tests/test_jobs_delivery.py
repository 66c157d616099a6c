"""Scheduled mail over real servers: the summary's chart through a real SMTP sink, a crash or restart in
the middle of a send, and two schedulers sharing one database (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import io
import logging
import struct
import threading
import time
import warnings
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from PIL import Image
from sqlalchemy import func, select

from mailbot.clock import FrozenClock
from mailbot.config import SmtpSettings
from mailbot.jobs import JOBS, catch_up, mailing, run_job, start_scheduler, weekly_summary
from mailbot.jobs.base import JobEnv
from mailbot.jobs.chart import trend_chart_png
from mailbot.jobs.models import JobRun
from mailbot.mail.smtp import SmtpSender
from mailbot.store.db import transaction
from mailbot.store.models import Outbox
from mailbot.store.queries import community_row
from tests.test_jobs_world import (
    add_people,
    add_tips,
    local,
    make_app,
    make_settings,
    seed_history,
)

MONDAY_MORNING = local(2026, 11, 23, 9, 0)  # after the 08:00 summary and the 08:30 tip


def _glyph_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from" in str(w.message).lower()]


def test_summary_chart_arrives_inline_and_thai_renders(tmp_path: Path, sqlite_url: str, smtp_sink: Any) -> None:
    clock = FrozenClock(MONDAY_MORNING)
    sender = SmtpSender(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, timeout=10), local_hostname="t")
    app = make_app(make_settings(tmp_path, sqlite_url), clock, sender=sender)
    people = add_people(app, local(2026, 10, 1, 9, 0))
    seed_history(app, people, local(2026, 11, 2), weeks=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_job(JobEnv.from_app(app), "weekly-summary", app.settings.communities[0])
    assert result.status == "done" and result.period == "2026-W47"
    assert _glyph_warnings(caught) == []  # Thai legend and title drew with real glyphs, no boxes
    app.deliverer.drain()
    [received] = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["boss@example.org"]
    msg = email.message_from_bytes(received.data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/related"
    html = msg.get_body(preferencelist=("html",))
    assert html is not None and 'src="cid:trend-chart"' in html.get_content()
    [image] = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<trend-chart>"
    png = image.get_payload(decode=True)
    assert isinstance(png, bytes) and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (640, 280)
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        assert img.size == (640, 280)
        # A real line chart, not a blank canvas: many distinct colours.
        assert len(img.convert("RGB").getcolors(maxcolors=100_000) or []) > 50
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None and "คำถามใหม่:                3" in plain.get_content()
    sender.close()


def test_glyph_check_can_fail() -> None:
    """The warning test above means something: a font without Thai does produce the warning."""
    dejavu = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trend_chart_png(["2026-W46", "2026-W47"], {"คำถามใหม่": [1, 2]}, title="แนวโน้ม", lang="th",
                        font_path=dejavu)  # fmt: skip
    assert _glyph_warnings(caught)


def _count(app: Any, kind: str) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count(Outbox.id)).where(Outbox.kind == kind)) or 0)


def test_crash_before_commit_sends_nothing_and_the_rerun_sends_once(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(MONDAY_MORNING - timedelta(days=3))  # installed before the jobs fell due
    settings = make_settings(tmp_path, db_url)
    app = make_app(settings, clock)
    add_people(app, local(2026, 10, 1, 9, 0))
    add_tips(app)
    clock.set(MONDAY_MORNING)
    real_queue = mailing.queue

    def queue_then_die(*args: Any, **kwargs: Any) -> int:
        real_queue(*args, **kwargs)  # the outbox rows are written ...
        raise RuntimeError("power cut")  # ... and the process dies before the commit

    monkeypatch.setattr(mailing, "queue", queue_then_die)
    env = JobEnv.from_app(app)
    community = settings.communities[0]
    assert run_job(env, "daily-tip", community).status == "failed"
    assert run_job(env, "weekly-summary", community).status == "failed"
    with app.sessions() as session:
        assert session.scalar(select(func.count(JobRun.id))) == 0
    assert _count(app, "tip") == _count(app, "summary") == 0
    monkeypatch.setattr(mailing, "queue", real_queue)

    restarted = make_app(settings, FrozenClock(MONDAY_MORNING + timedelta(minutes=20)))  # a new process
    env2 = JobEnv.from_app(restarted)
    results = {r.job: r.status for r in catch_up(env2, settings.communities)}
    assert results["daily-tip"] == results["weekly-summary"] == "done"
    assert {r.job: r.status for r in catch_up(env2, settings.communities)}["daily-tip"] == "already-done"
    assert _count(restarted, "tip") == 1 and _count(restarted, "summary") == 1


def test_restart_during_delivery_still_one_summary_each(
    tmp_path: Path, sqlite_url: str, smtp_sink: Any
) -> None:
    clock = FrozenClock(MONDAY_MORNING)
    settings = make_settings(tmp_path, sqlite_url)
    sender = SmtpSender(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, timeout=10), local_hostname="t")
    app = make_app(settings, clock, sender=sender)
    add_people(app, local(2026, 10, 1, 9, 0))
    with transaction(app.sessions) as session:
        from mailbot import members as members_mod

        row = community_row(session, "km-it")
        members_mod.add(session, row, "boss2@example.org", clock, name="รองผู้อำนวยการ", role="sponsor")
    smtp_sink.rcpt_responses["boss2@example.org"] = (451, "4.3.0 try later")  # the send stops half-way
    assert run_job(JobEnv.from_app(app), "weekly-summary", settings.communities[0]).status == "done"
    app.deliverer.drain()
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ["boss@example.org"]
    sender.close()

    del smtp_sink.rcpt_responses["boss2@example.org"]
    later = FrozenClock(MONDAY_MORNING + timedelta(hours=1))
    sender2 = SmtpSender(SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, timeout=10), local_hostname="t")
    restarted = make_app(settings, later, sender=sender2)
    assert run_job(JobEnv.from_app(restarted), "weekly-summary", settings.communities[0]).status == "already-done"
    restarted.deliverer.drain()
    got = smtp_sink.wait_for(2)
    time.sleep(0.3)  # anything extra would have arrived by now
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["boss2@example.org", "boss@example.org"]
    assert len(got) == 2
    sender2.close()


def test_two_schedulers_on_one_database_send_one_of_each(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbot.jobs")
    settings = make_settings(tmp_path, db_url)
    clock = FrozenClock(local(2026, 10, 1, 9, 0))  # installed weeks before; both share the time
    first = make_app(settings, clock)
    people = add_people(first, local(2026, 10, 1, 9, 0))
    add_tips(first)
    seed_history(first, people, local(2026, 11, 2), weeks=3)
    second = make_app(settings, clock)
    clock.set(MONDAY_MORNING)
    real_figures = weekly_summary.figures

    def slow_figures(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)  # hold the claimed key open while the twin tries to claim it too
        return real_figures(*args, **kwargs)

    monkeypatch.setattr(weekly_summary, "figures", slow_figures)
    stops = [threading.Event(), threading.Event()]
    threads = [start_scheduler(app, stop) for app, stop in zip((first, second), stops, strict=True)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with first.sessions() as session:
            done = set(session.scalars(select(JobRun.job)))
        if {"daily-tip", "weekly-summary", "daily-digest", "weekly-digest"} <= done:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # let the slower twin finish its attempt
    for stop in stops:
        stop.set()
    for t in threads:
        assert t is not None
        t.join(timeout=15)
    assert _count(first, "summary") == 1
    assert _count(first, "tip") == 1
    assert _count(first, "digest") == 1  # the weekly reader's digest of W47 (the daily one: Sunday, no traffic)
    with first.sessions() as session:
        keys = session.execute(select(JobRun.job, JobRun.period)).all()
    assert len(keys) == len(set(keys))
    # Both schedulers really tried: the twin was turned away by the key, not by luck of timing.
    turned_away = [r.getMessage() for r in caplog.records if "weekly-summary" in r.getMessage()
                   and ("already done" in r.getMessage() or "lost the race" in r.getMessage())]  # fmt: skip
    assert turned_away, "the second scheduler never attempted the summary"
    assert set(JOBS) >= {job for job, _p in keys}
