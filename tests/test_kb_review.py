"""Knowledge review: entries nobody confirmed for kb_review_months become "may be out of date", the
scribes and facilitators hear about it once a month, and `kb <N> ok` by e-mail makes one current again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot.clock import FrozenClock
from mailbot.config import ConfigError, validate
from mailbot.jobs import catch_up, run_job
from mailbot.jobs.base import JobEnv
from mailbot.knowledge import search
from mailbot.knowledge.models import KbEntry
from mailbot.knowledge.search import index_entry
from mailbot.store.db import transaction
from mailbot.store.queries import community_row
from tests.test_commands_support import make_bot
from tests.test_jobs_world import add_people, local, make_app, make_settings, outbox, text_of

# number, title, last confirmed, status
ENTRIES = [
    (1, "ตั้งค่า VPN บนมือถือ", local(2025, 6, 1, 10, 0), "published"),  # 18 months: due
    (2, "Printer on floor 3 shows offline", local(2025, 11, 20, 10, 0), "published"),  # 12.4 months: due
    (3, "ล้างแคชเบราว์เซอร์", local(2026, 3, 1, 10, 0), "published"),  # 9 months: not yet
    (4, "ร่างวิธีตั้งค่าไวไฟ", local(2024, 1, 1, 10, 0), "draft"),  # drafts are not reviewed
    (5, "สแกนเอกสารเป็น PDF", local(2024, 5, 1, 10, 0), "stale"),  # marked before: counted, not listed
]


def _seed(app: Any) -> int:
    with transaction(app.sessions) as s:
        cid = community_row(s, "km-it").id
        for number, title, when, status in ENTRIES:
            e = KbEntry(community_id=cid, number=number, title=title, question="?", answer="คำตอบ", topic="",
                        status=status, created_at=when, updated_at=when)  # fmt: skip
            s.add(e)
            s.flush()
            index_entry(s, e)
    return cid


def _statuses(app: Any) -> dict[int, str]:
    with app.sessions() as s:
        return {e.number: e.status for e in s.scalars(select(KbEntry))}


def test_monthly_review_marks_old_entries_and_tells_the_curators(tmp_path: Path, sqlite_url: str) -> None:
    clock = FrozenClock(local(2026, 11, 30, 9, 0))
    app = make_app(make_settings(tmp_path, sqlite_url), clock)
    add_people(app, local(2026, 1, 5, 9, 0))
    cid = _seed(app)
    clock.set(local(2026, 12, 1, 9, 30))  # the 1st at 09:00 (reminder_day, reminder_time) has passed
    env = JobEnv.from_app(app)
    results = [r for r in catch_up(env, app.settings.communities) if r.job == "kb-review"]
    assert [(r.status, r.detail) for r in results] == [("done", "2 entries marked stale")]
    assert _statuses(app) == {1: "stale", 2: "stale", 3: "published", 4: "draft", 5: "stale"}

    [(msg, rcpts)] = outbox(app, "kb-review")
    assert rcpts == ["fac@example.org"]  # the facilitator (no scribe here); not members, not the sponsor
    assert msg["Reply-To"] == "km-it-request@example.org"
    text = text_of(msg)
    assert "kb 1  ตั้งค่า VPN บนมือถือ" in text and "kb 2  Printer on floor 3 shows offline" in text
    assert "ล้างแคชเบราว์เซอร์" not in text and "ร่างวิธีตั้งค่าไวไฟ" not in text
    assert "1 มิ.ย. 2568" in text  # last confirmed, Buddhist year
    assert "ยังมีอีก 1 เรื่อง" in text  # entry 5, stale from before
    assert "12 เดือน" in text and "kb 1 ok" in text
    assert msg.get_body(preferencelist=("html",)) is not None

    # Still found by search, and labelled.
    with app.sessions() as s:
        [hit] = search.search(s, cid, "VPN")
        assert (hit.number, hit.status) == (1, "stale")

    # Once a month: a second catch-up the same month sends nothing more.
    assert run_job(env, "kb-review", app.settings.communities[0]).status == "already-done"
    assert len(outbox(app, "kb-review")) == 1


def test_nothing_due_sends_nothing_and_zero_turns_it_off(tmp_path: Path, sqlite_url: str) -> None:
    clock = FrozenClock(local(2026, 12, 1, 9, 30))
    app = make_app(make_settings(tmp_path, sqlite_url, kb_review_months=24), clock)
    add_people(app, local(2026, 1, 5, 9, 0))
    _seed(app)
    env = JobEnv.from_app(app)
    assert run_job(env, "kb-review", app.settings.communities[0]).detail == "nothing to review"
    assert outbox(app, "kb-review") == [] and _statuses(app)[2] == "published"

    off = make_app(make_settings(tmp_path / "off", sqlite_url.replace(".db", "-off.db"), kb_review_months=0), clock)
    assert run_job(JobEnv.from_app(off), "kb-review", off.settings.communities[0]).status == "disabled"
    with pytest.raises(ConfigError, match="kb_review_months"):
        validate(make_settings(tmp_path / "neg", sqlite_url, kb_review_months=-1))


def test_kb_ok_by_email_makes_an_entry_current_again(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = make_bot(db_url, tmp_path, monkeypatch)
    try:
        bot.member("scribe@example.net", role="scribe", name="Likit")
        bot.member("suda@example.net", name="Suda")
        with transaction(bot.app.sessions) as s:
            cid = community_row(s, "km-it").id
            old = datetime(2025, 1, 1, 3, 0, tzinfo=bot.clock.now().tzinfo)
            s.add(KbEntry(community_id=cid, number=7, title="ตั้งค่า VPN", question="?", answer="a", topic="",
                          status="stale", created_at=old, updated_at=old))  # fmt: skip
        bot.outbox()

        bot.command("suda@example.net", "kb 7 ok")  # a member may read it, not confirm it
        [reply] = bot.outbox()
        assert "only scribes and facilitators" in reply.text
        assert _entry(bot, 7).status == "stale"

        bot.command("scribe@example.net", "kb 7 ok")
        [reply] = bot.outbox()
        assert "kb 7 confirmed" in reply.text
        entry = _entry(bot, 7)
        assert entry.status == "published" and entry.updated_at == bot.clock.now()  # the next review counts from now

        bot.command("scribe@example.net", "ความรู้ 7 ล้าสมัย")  # Thai command word and review word
        bot.outbox()
        assert _entry(bot, 7).status == "stale"
        bot.command("scribe@example.net", "ความรู้7ใช้ได้ครับ")  # written together, with a polite particle
        bot.outbox()
        assert _entry(bot, 7).status == "published"
        bot.command("scribe@example.net", "kb 7 stale")
        bot.outbox()

        bot.command("suda@example.net", "ความรู้ 7 ครับ")  # a polite particle, not a review word: read it
        assert [s.kind for s in bot.outbox()] == ["command-kb-entry"] and _entry(bot, 7).status == "stale"

        # The review mail asks for one line per entry: a reply confirming two, quoted text below.
        with transaction(bot.app.sessions) as s:
            s.add(KbEntry(community_id=cid, number=8, title="ล้างแคช", question="?", answer="a", topic="",
                          status="stale", created_at=old, updated_at=old))  # fmt: skip
        bot.command("scribe@example.net", "kb 7 ok\nkb 8 ok\n\nOn Mon, mailbot wrote:\n> kb 9 stale\n",
                    subject="Re: [KM-IT] Knowledge to review: 2 entries may be out of date")  # fmt: skip
        [reply] = bot.outbox()
        assert "kb 7 confirmed" in reply.text and "kb 8 confirmed" in reply.text
        assert "entry 9" not in reply.text  # quoted text is never read as a command
        assert (_entry(bot, 7).status, _entry(bot, 8).status) == ("published", "published")

        bot.command("suda@example.net", "kb 7")  # reading is unchanged
        assert [s.kind for s in bot.outbox()] == ["command-kb-entry"]
    finally:
        bot.app.engine.dispose()


def _entry(bot: Any, number: int) -> KbEntry:
    with bot.app.sessions() as s:
        entry = s.scalar(select(KbEntry).where(KbEntry.number == number))
        assert entry is not None
        s.expunge(entry)
        return entry
