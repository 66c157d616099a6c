"""A simulated month of scheduled mail on a frozen clock, plus the world-building helpers other job tests use.

The history is seeded as rows (threads, answers, messages, entries) with known figures, so every
number in the weekly summaries can be checked exactly.
"""

from __future__ import annotations

import dataclasses
import email
import hashlib
import re
from collections import Counter
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import members as members_mod
from mailbot.app import App
from mailbot.clock import FrozenClock
from mailbot.config import CommunitySettings, DatabaseSettings, PathSettings, Settings
from mailbot.jobs import catch_up, tips
from mailbot.jobs.base import JobEnv
from mailbot.jobs.models import JobRun, Tip, TipSend
from mailbot.knowledge.models import Answer, KbEntry, KbFeedback, Thread
from mailbot.mail.smtp import Sender
from mailbot.store.db import transaction
from mailbot.store.models import Member, Message, Outbox, OutboxRecipient
from mailbot.store.queries import community_row

BKK = ZoneInfo("Asia/Bangkok")
TOPICS = ("virus", "printer", "wifi", "km-basics")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BKK)  # type: ignore[misc,arg-type]


def make_settings(tmp_path: Path, db_url: str, **community: Any) -> Settings:
    c = CommunitySettings(slug="km-it", address="km-it@example.org", name="ชุมชน KM-IT", subject_prefix="[KM-IT]")
    c = dataclasses.replace(c, **community)
    return Settings(
        database=DatabaseSettings(url=db_url),
        paths=PathSettings(data_dir=str(tmp_path / "data")),
        communities=[c],
    )


def make_app(settings: Settings, clock: FrozenClock, sender: Sender | None = None) -> App:
    app = App(settings, clock=clock, sender=sender)
    app.prepare()
    return app


PEOPLE = [
    # email, name, section, role, delivery
    ("boss@example.org", "ท่านผู้อำนวยการ", "ฝ่ายบริหาร", "sponsor", "none"),
    ("fac@example.org", "คุณอำนวย", "ฝ่ายบริหาร", "facilitator", "each"),
    ("m1@example.org", "สมชาย", "ส่วนเครือข่าย", "member", "each"),
    ("m2@example.org", "สุดา", "ส่วนเครือข่าย", "member", "each"),
    ("m3@example.org", "อนันต์", "ส่วนเครือข่าย", "member", "each"),
    ("m4@example.org", "พิมพ์ใจ", "ส่วนบริการ", "member", "each"),
    ("m5@example.org", "วิชัย", "ส่วนบริการ", "member", "each"),
    ("d1@example.org", "Daily Reader", "ส่วนบริการ", "member", "daily"),
    ("w1@example.org", "Weekly Reader", "ส่วนบริการ", "member", "weekly"),
    ("off@example.org", "No Mail", "ส่วนบริการ", "member", "none"),
]


def add_people(app: App, joined: datetime) -> dict[str, Member]:
    clock = FrozenClock(joined)
    out = {}
    with transaction(app.sessions) as session:
        row = community_row(session, "km-it")
        for addr, name, section, role, delivery in PEOPLE:
            m, _ = members_mod.add(session, row, addr, clock, name=name, section=section, role=role,
                                   delivery=delivery)  # fmt: skip
            out[addr.split("@")[0]] = m
    return out


def add_tips(app: App, per_topic: int = 3) -> None:
    with transaction(app.sessions) as session:
        row = community_row(session, "km-it")
        for i in range(per_topic):
            for topic in TOPICS:
                text = f"---\ntitle: {topic} tip {i}\ntopic: {topic}\nsource: test\n---\n\nBody of {topic} {i}.\n"
                tips.upsert(session, row.id, tips.parse_tip(text, f"{topic}-{i}"), app.clock.now())


def _message(session: Session, cid: int, member: Member, kind: str, when: datetime, subject: str,
             body: str, thread_id: int | None) -> Message:  # fmt: skip
    raw = f"Subject: {subject}\n\n{body}\n".encode()
    msg = Message(
        community_id=cid, source="cli", source_ref="", message_id=f"<{hashlib.md5(raw + str(when).encode()).hexdigest()}@t>",
        content_hash=hashlib.sha256(raw + str(when).encode()).hexdigest(), raw=raw, size=len(raw), received_at=when,
        from_email=member.email, from_name=member.name, subject=subject, address_role="post", kind=kind,
        rule="test", status="processed", reason="", member_id=member.id, thread_id=thread_id, body_text=body,
        defects="",
    )  # fmt: skip
    session.add(msg)
    session.flush()
    return msg


def seed_week(session: Session, cid: int, people: dict[str, Member], monday: datetime, k: int,
              number_start: int, entry_number: int) -> int:  # fmt: skip
    """Week k: k+1 questions from m1 on Tuesday; #0 answered after 2 h and solved, #1 answered after
    4 h (left open), the rest unanswered. Returns the next thread number."""
    m = {key: session.merge(v) for key, v in people.items()}
    number = number_start
    for i in range(k + 1):
        asked = monday + timedelta(days=1, hours=10 + i)
        subject = f"คำถามที่ {number}: เครื่องพิมพ์ไม่ทำงาน"
        t = Thread(community_id=cid, number=number, subject=subject, status="open", topic="printer",
                   question_text="ปริ้นไม่ออกครับ", root_message_id=f"<q{number}@t>", asker_member_id=m["m1"].id,
                   asker_email=m["m1"].email, asker_name=m["m1"].name, answer_count=0, created_at=asked,
                   updated_at=asked)  # fmt: skip
        session.add(t)
        session.flush()
        qmsg = _message(session, cid, m["m1"], "question", asked, subject, "ปริ้นไม่ออกครับ", t.id)
        t.question_message_pk = qmsg.id
        if i in (0, 1):
            who = m["m2"] if i == 0 else m["m4"]
            at = asked + timedelta(hours=2 if i == 0 else 4)
            amsg = _message(session, cid, who, "answer", at, "Re: " + subject, f"ลบงานค้างในคิว ({number})", t.id)
            a = Answer(thread_id=t.id, number=1, message_pk=amsg.id, message_id=amsg.message_id or "",
                       member_id=who.id, author_email=who.email, author_name=who.name,
                       text=f"ลบงานค้างในคิว ({number})", accepted=i == 0, created_at=at)  # fmt: skip
            session.add(a)
            session.flush()
            t.answer_count, t.status = 1, "answered"
            if i == 0:
                t.status, t.accepted_answer_id, t.solved_at = "solved", a.id, asked + timedelta(hours=3)
                entry = KbEntry(community_id=cid, number=entry_number, thread_id=t.id, title=subject,
                                question="ปริ้นไม่ออกครับ", answer=a.text, topic="printer", status="published",
                                created_at=t.solved_at, updated_at=t.solved_at)  # fmt: skip
                session.add(entry)
                session.flush()
                # Two members try it on Thursday and say it worked (kb N ได้ผล).
                for who in ("m2", "m3"):
                    session.add(KbFeedback(entry_id=entry.id, member_id=m[who].id, created_at=asked + timedelta(days=2)))
        number += 1
    return number


def seed_history(app: App, people: dict[str, Member], first_monday: datetime, weeks: int) -> None:
    with transaction(app.sessions) as session:
        cid = community_row(session, "km-it").id
        number = 1
        for k in range(weeks):
            number = seed_week(session, cid, people, first_monday + timedelta(days=7 * k), k, number, k + 1)


def outbox(app: App, kind: str) -> list[tuple[EmailMessage, list[str]]]:
    """Queued mail of `kind`, oldest first, each with its recipient addresses."""
    with app.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all()
        out = []
        for row in rows:
            rcpts = list(session.scalars(select(OutboxRecipient.address).where(OutboxRecipient.outbox_id == row.id)))
            msg = email.message_from_bytes(row.data, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            out.append((msg, sorted(rcpts)))
    return out


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- the month ---------------------------------------------------------------------------------------------


def test_simulated_month(tmp_path: Path, sqlite_url: str) -> None:
    start = local(2026, 11, 2, 0, 0)  # a Monday
    clock = FrozenClock(start)
    app = make_app(make_settings(tmp_path, sqlite_url, tip_skip_weekends=True, tip_holidays=["2026-11-20"]), clock)
    people = add_people(app, local(2026, 10, 1, 9, 0))
    add_tips(app)  # 12 tips, 4 topics
    seed_history(app, people, start, weeks=4)  # W45..W48
    env = JobEnv.from_app(app)
    community = app.settings.communities[0]
    while clock.now() < local(2026, 11, 30, 23, 0):
        catch_up(env, [community])
        clock.advance(timedelta(hours=1))

    # --- tips: one per working day, none on weekends or the holiday, no repeat before all 12 went out
    with app.sessions() as session:
        sends = session.execute(
            select(TipSend.number, TipSend.day, Tip.key, Tip.topic).join(Tip, Tip.id == TipSend.tip_id).order_by(TipSend.number)
        ).all()
    days = [datetime.fromisoformat(s.day).date() for s in sends]
    expected_days = [d for d in (local(2026, 11, 2).date() + timedelta(days=i) for i in range(29))
                     if d.weekday() < 5 and d.isoformat() != "2026-11-20"]  # fmt: skip
    assert days == expected_days  # 20 working days
    keys = [s.key for s in sends]
    assert len(set(keys[:12])) == 12  # the whole library once ...
    assert len(set(keys[12:])) == len(keys[12:])  # ... before anything comes twice
    assert all(a.topic != b.topic for a, b in zip(sends, sends[1:], strict=False))  # topics take turns
    tip_mail = outbox(app, "tip")
    subjects = [str(m["Subject"]) for m, _ in tip_mail]
    assert len(subjects) == 20 and len(set(subjects)) == 20  # unique subject per day: no client merges days
    assert subjects[0].startswith("[KM-IT] KM วันละนิด #1: ") and subjects[19].startswith("[KM-IT] KM วันละนิด #20: ")
    everyone = sorted(a for a, *_rest, delivery in PEOPLE if delivery != "none")
    assert tip_mail[0][1] == everyone  # every member except those who chose no mail
    # A member who answers the tip (tried it, asks about it) writes to the group, as the mail says.
    assert str(tip_mail[0][0]["Reply-To"]) == "km-it@example.org"
    assert "ตอบกลับอีเมลนี้ ถึงเพื่อนสมาชิกทุกคน" in text_of(tip_mail[0][0])
    tip_texts = [text_of(m) for m, _ in tip_mail]
    # A tip's topic as members know it (rules/topics.toml's label); one outside that file by its name.
    assert any("หมวด ไวรัสและความปลอดภัย" in x for x in tip_texts) and not any("หมวด virus" in x for x in tip_texts)
    assert any("หมวด km-basics" in x for x in tip_texts)

    # --- weekly summaries: W44 (empty) then the four seeded weeks, each with the right figures
    summaries = outbox(app, "summary")
    assert [r for _m, r in summaries] == [["boss@example.org"]] * 5
    # A sponsor's reply ("please follow up #Q3") reaches the facilitators, not the robot.
    assert str(summaries[0][0]["Reply-To"]) == "km-it-owner@example.org"
    texts = [text_of(m) for m, _ in summaries]
    assert "สัปดาห์ 2026-W44" in texts[0] and "คำถามใหม่:                0" in texts[0]
    assert '(สัปดาห์นี้ยังไม่มี สมาชิกบอกได้ด้วยคำสั่ง "kb <หมายเลข> ได้ผล")' in texts[0]
    for k, text in enumerate(texts[1:]):
        assert f"สัปดาห์ 2026-W{45 + k}" in text
        assert f"คำถามใหม่:                {k + 1}" in text
        assert "แก้ได้แล้ว:               1" in text
        assert f"มีคำตอบแต่ยังไม่ปิด:       {1 if k else 0}" in text
        assert f"ยังไม่มีคำตอบ:             {max(0, k - 1)}" in text
        assert f"{2 if k == 0 else 3} ชั่วโมง" in text
        assert "ส่วนเครือข่าย: 2 / 3" in text
        assert f"ส่วนบริการ: {1 if k else 0} / 5" in text
        assert f"1. สมชาย (ส่วนเครือข่าย) — {k + 1} ข้อความ" in text
        # Knowledge put to use: the week's solved entry, tried by two members.
        assert re.search(rf"ความรู้ที่ถูกนำไปใช้ \(สมาชิกบอกว่าได้ผล\)\r?\n  \[{k + 1}\] คำถามที่ \d+: เครื่องพิมพ์ไม่ทำงาน — 2 คน\r?\n", text)
    last = texts[-1]
    assert "· printer" not in last and "· เครื่องพิมพ์" in last  # new entries: the topic's label
    assert "2026-W48: 4 / 2 / 3" in last and "2026-W45: 1 / 1 / 2" in last  # trend rows
    assert last.count("รอคำตอบมา") == 3  # unanswered > 48 h: one from W47, two from W48
    assert re.search(r"รอคำตอบมา \d+(\.\d)? วัน", last), last  # in days, as people say it

    # --- digests: daily readers get one per day with traffic, grouped by thread
    daily = outbox(app, "digest")
    daily_only = [(m, r) for m, r in daily if r == ["d1@example.org"]]
    weekly_only = [(m, r) for m, r in daily if r == ["w1@example.org"]]
    assert len(daily_only) == 4 and len(weekly_only) == 4  # Wednesdays; Mondays after W45..W48
    week3 = text_of(daily_only[3][0])  # Tuesday of W48: 4 questions, 2 answers
    assert week3.count("\n== ") + week3.startswith("== ") == 4
    assert "4 เรื่อง 6 ข้อความ" in week3
    # Each thread says how to answer it from the digest; the ones nobody has answered ask for help.
    assert week3.count('ตอบเรื่องนี้: เขียนถึง km-it@example.org หัวเรื่อง "Re: [KM-IT #Q') == 4
    assert week3.count("ยังไม่มีใครตอบ ช่วยตอบได้ไหม?") == 2  # of the 4 questions, 2 were answered
    html = daily_only[3][0].get_body(preferencelist=("html",))
    assert html is not None and "mailto:km-it@example.org?subject=Re%3A%20%5BKM-IT%20%23Q" in str(html.get_content())
    assert "Weekly Reader" not in week3

    # --- nudges: each unanswered question once, to the facilitator and the members who answer printers
    nudges = outbox(app, "nudge")
    assert len(nudges) == 3
    for msg, rcpts in nudges:
        assert rcpts == ["fac@example.org", "m2@example.org", "m4@example.org"]
        assert str(msg["Reply-To"]) == "km-it@example.org" and str(msg["In-Reply-To"]).startswith("<q")
        # The topic as members know it (rules/topics.toml's label), not its id.
        assert "ช่วยตอบเรื่อง เครื่องพิมพ์ บ่อยที่สุด" in text_of(msg) and "หมวด: เครื่องพิมพ์" in text_of(msg)

    # --- and every run is on record exactly once
    with app.sessions() as session:
        runs = Counter(session.scalars(select(JobRun.job)))
    assert runs["daily-tip"] == 20 and runs["weekly-summary"] == 5 and runs["nudge-unanswered"] == 3
    assert runs["reminder-silent"] == 0  # off by default


def test_silent_reminder_when_enabled(tmp_path: Path, sqlite_url: str) -> None:
    clock = FrozenClock(local(2026, 12, 1, 8, 0))
    app = make_app(make_settings(tmp_path, sqlite_url, silent_reminder_days=30), clock)
    people = add_people(app, local(2026, 9, 1, 9, 0))
    with transaction(app.sessions) as session:
        m2 = session.merge(people["m2"])
        m2.last_post_at = local(2026, 11, 20, 10, 0)  # posted recently: not silent
    clock.set(local(2026, 12, 1, 9, 30))  # the 09:00 reminder was due while the bot was down
    env = JobEnv.from_app(app)
    results = catch_up(env, app.settings.communities)
    assert any(r.job == "reminder-silent" and r.status == "done" for r in results)
    [(msg, rcpts)] = outbox(app, "reminder")
    silent = sorted(a for a, *_r, delivery in PEOPLE if delivery != "none" and not a.startswith("m2@"))
    assert rcpts == silent
    assert "30 วัน" in text_of(msg)
    catch_up(env, app.settings.communities)
    assert len(outbox(app, "reminder")) == 1  # monthly: not again the same month



def test_fresh_install_does_not_catch_up_periods_before_it_existed(tmp_path: Path, sqlite_url: str) -> None:
    # Installed on a Saturday: last Monday's summary and this morning's tip were never missed.
    clock = FrozenClock(local(2026, 11, 21, 10, 0))
    app = make_app(make_settings(tmp_path, sqlite_url), clock)
    add_people(app, local(2026, 11, 21, 10, 0))
    results = {r.job: r for r in catch_up(JobEnv.from_app(app), app.settings.communities)}
    assert results["weekly-summary"].status == "skipped"
    assert results["daily-tip"].status == "skipped"
    assert outbox(app, "summary") == []
