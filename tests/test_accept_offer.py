"""An asker who says it works, or whose question has had answers for days, is asked once, privately,
which answer to file; `accept #Q1 2` to the request address files it without writing to the group.

Runs the real pipeline and jobs on SQLite and PostgreSQL; mail is read back from the outbox rows.
"""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot.jobs import run_job
from mailbot.jobs.base import JobEnv
from mailbot.knowledge.followup import says_solved
from mailbot.knowledge.models import Answer, KbEntry, Thread
from mailbot.store.models import Outbox, OutboxRecipient
from tests.helpers import add_members, make_app, member_mail, settings_for

ASKER = ("somchai@example.org", "สมชาย ใจดี")
HELPER = ("suda@example.org", "สุดา รักเรียน")
OTHER = ("anan@example.org", "อนันต์ ช่างคิด")
FACILITATOR = ("boss@example.org", "ผู้ดูแล", "facilitator")


def _app(db_url: str, tmp_path: Path, **community: Any) -> Any:
    app = make_app(settings_for(db_url, tmp_path, **community))
    add_members(app, ASKER, HELPER, OTHER, FACILITATOR)
    return app


def _mail(app: Any, who: tuple[str, ...], subject: str, body: str, *, to: str = "km-it@example.org",
          parent: str | None = None) -> str:  # fmt: skip
    raw = member_mail(who[0], subject, body, name=who[1], to=to, in_reply_to=parent)
    app.ingest(raw, source="test", source_ref="t")
    return str(email.message_from_bytes(raw)["Message-ID"])


def _ask_and_answer(app: Any) -> tuple[str, str]:
    q = _mail(app, ASKER, "Outlook ถามรหัสผ่านซ้ำทุกครั้ง ทำอย่างไรดีครับ", "ใส่รหัสแล้วก็ถามอีกครับ")
    a = _mail(app, HELPER, "Re: [KM-IT #Q1] Outlook", "ลบรหัสผ่านเก่าใน Credential Manager แล้วเปิด Outlook ใหม่ค่ะ", parent=q)
    return q, a


def _outbox(app: Any, kind: str) -> list[tuple[EmailMessage, list[str]]]:
    with app.sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all()
        return [
            (
                email.message_from_bytes(o.data, policy=email.policy.default),
                sorted(s.scalars(select(OutboxRecipient.address).where(OutboxRecipient.outbox_id == o.id))),
            )
            for o in rows
        ]


def _text(m: EmailMessage) -> str:
    part = m.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(m: EmailMessage) -> str:
    part = m.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def _thread_status(app: Any) -> str:
    with app.sessions() as s:
        return str(s.scalars(select(Thread)).one().status)


@pytest.mark.parametrize(
    "text",
    ["ได้แล้วครับ ขอบคุณมากครับ", "ทำตามแล้ว ใช้ได้แล้วค่ะ", "หายแล้วค่ะ", "Thanks, that fixed it!",
     "It works now.", "เรียบร้อยแล้วครับ", "เรียบร้อยค่ะ"],
)  # fmt: skip
def test_follow_ups_that_say_it_works(text: str) -> None:
    assert says_solved(text)


@pytest.mark.parametrize(
    "text",
    ["ขอบคุณครับ เดี๋ยวลองดูครับ", "ลองแล้วยังไม่ได้ครับ", "ขอบคุณค่ะ แต่ยังขึ้นเหมือนเดิม", "Thanks, but it still fails",
     "Thanks, I'll try tomorrow", "แล้วถ้าเป็น Windows 11 ต้องทำอย่างไรครับ?", "I attached a screenshot.",
     "ทำแล้วเข้าไม่ได้เลยครับ", "ยังไม่เรียบร้อยค่ะ"],
)  # fmt: skip
def test_follow_ups_that_do_not(text: str) -> None:
    assert not says_solved(text)


def test_an_asker_who_says_it_works_is_offered_the_answers_once_and_one_reply_files_it(
    db_url: str, tmp_path: Path
) -> None:
    app = _app(db_url, tmp_path)
    q, a = _ask_and_answer(app)
    thanks = _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "ได้แล้วครับ ขอบคุณมากครับพี่สุดา\n\nสมชาย", parent=a)
    offers = _outbox(app, "accept-offer")
    assert len(offers) == 1
    offer, rcpts = offers[0]
    assert rcpts == [ASKER[0]]  # private: only the asker, the group gets the thank-you as written
    assert offer["Subject"] == "[KM-IT] เก็บคำตอบไว้เป็นความรู้ไหม: #Q1 Outlook ถามรหัสผ่านซ้ำทุกครั้ง ทำอย่างไรดีครับ"
    assert offer["In-Reply-To"] == thanks  # threads under the asker's own thank-you
    text = _text(offer)
    assert "1. สุดา รักเรียน: ลบรหัสผ่านเก่าใน Credential Manager" in text and '"ยอมรับ #Q1 1"' in text
    assert "mailto:km-it-request@example.org?subject=%E0%B8%A2%E0%B8%AD%E0%B8%A1%E0%B8%A3%E0%B8%B1%E0%B8%9A%20%23Q1%201" in _html(offer)
    assert _outbox(app, "list-copy")[-1][0]["Subject"] == "Re: [KM-IT #Q1] Outlook"
    assert _thread_status(app) == "answered"  # nothing accepted on the asker's behalf

    # A second thank-you is not asked again.
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "ขอบคุณอีกครั้งครับ ใช้ได้ดีเลย", parent=a)
    assert len(_outbox(app, "accept-offer")) == 1

    # The asker replies to the offer: the answer is filed, the answerer thanked, nothing to the group.
    copies = len(_outbox(app, "list-copy"))
    _mail(app, ASKER, "Re: " + str(offer["Subject"]), "ยอมรับ #Q1 1\n\nสมชาย", to="km-it-request@example.org")
    assert _thread_status(app) == "solved"
    with app.sessions() as s:
        entry = s.scalars(select(KbEntry)).one()
        assert entry.answer == "ลบรหัสผ่านเก่าใน Credential Manager แล้วเปิด Outlook ใหม่ค่ะ"
        assert [a.accepted for a in s.scalars(select(Answer))] == [True]
    filed = _outbox(app, "entry-filed")
    assert len(filed) == 1 and filed[0][1] == sorted([ASKER[0], HELPER[0]])
    assert "สมชาย ใจดี ยอมรับคำตอบของสุดา รักเรียน" in _text(filed[0][0])
    assert _outbox(app, "command-reply") == []  # the entry-filed mail already says what happened
    assert len(_outbox(app, "list-copy")) == copies


@pytest.mark.parametrize(
    "body",
    ["ขอบคุณครับ เดี๋ยวพรุ่งนี้ลองดูครับ\n\nสมชาย", "ลองแล้วยังไม่ได้ครับ ยังถามรหัสอยู่", "แนบภาพหน้าจอมาให้ครับ\n\nขอบคุณครับ\nสมชาย"],
)  # fmt: skip
def test_a_follow_up_that_is_not_solved_gets_no_offer(sqlite_url: str, tmp_path: Path, body: str) -> None:
    app = _app(sqlite_url, tmp_path)
    _, a = _ask_and_answer(app)
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", body, parent=a)
    assert _outbox(app, "accept-offer") == []


def test_a_thank_you_before_any_answer_offers_nothing(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q = _mail(app, ASKER, "Outlook ถามรหัสผ่านซ้ำทุกครั้ง ทำอย่างไรดีครับ", "ใส่รหัสแล้วก็ถามอีกครับ")
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "ได้แล้วครับ รีสตาร์ทเครื่องก็หาย ขอบคุณครับ", parent=q)
    assert _outbox(app, "accept-offer") == []


def _job(app: Any, after: timedelta) -> Any:
    app.clock.advance(after)
    return run_job(JobEnv.from_app(app), "accept-offer", app.settings.communities[0])


def test_the_asker_is_asked_once_days_after_the_last_answer(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, a = _ask_and_answer(app)
    # A second question nobody answers, and a third solved at once: neither is asked about.
    _mail(app, OTHER, "VPN หลุดบ่อย ทำอย่างไรดีครับ", "หลุดทุกสิบนาทีครับ")
    q3 = _mail(app, OTHER, "สแกนเนอร์ไม่ขึ้น ทำอย่างไรดีครับ", "ต่อ USB แล้วเงียบครับ")
    a3 = _mail(app, HELPER, "Re: [KM-IT #Q3] สแกนเนอร์", "ลงไดรเวอร์ใหม่ค่ะ", parent=q3)
    _mail(app, OTHER, "Re: [KM-IT #Q3] สแกนเนอร์", "#solved", parent=a3)

    _job(app, timedelta(days=2))
    assert _outbox(app, "accept-offer") == []  # too early: answers may still come
    result = _job(app, timedelta(days=1, hours=1))
    offers = _outbox(app, "accept-offer")
    assert result.status == "done" and len(offers) == 1 and offers[0][1] == [ASKER[0]]
    assert offers[0][0]["Subject"].startswith("[KM-IT] ได้คำตอบแล้ว แก้ได้หรือยัง: #Q1 ")
    assert "คำถาม #Q1" in _text(offers[0][0]) and "1. สุดา รักเรียน" in _text(offers[0][0])
    _job(app, timedelta(hours=1))
    _job(app, timedelta(days=2))
    assert len(_outbox(app, "accept-offer")) == 1  # asked once


def test_an_asker_offered_after_thanks_is_not_reminded(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    _, a = _ask_and_answer(app)
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "Thanks, that fixed it!", parent=a)
    _job(app, timedelta(days=4))
    assert len(_outbox(app, "accept-offer")) == 1


def test_offers_can_be_turned_off(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path, accept_offer_days=0)
    _, a = _ask_and_answer(app)
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "ได้แล้วครับ ขอบคุณครับ", parent=a)
    assert _job(app, timedelta(days=4)).status == "disabled"
    assert _outbox(app, "accept-offer") == []


def _command_reply(app: Any, who: tuple[str, ...], body: str, subject: str = "accept") -> str:
    _mail(app, who, subject, body, to="km-it-request@example.org")
    return _text(_outbox(app, "command-reply")[-1][0])


def test_accept_command_checks_who_and_which_answer(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask_and_answer(app)
    _mail(app, OTHER, "Re: [KM-IT #Q1] Outlook", "หรือสร้างโปรไฟล์ Outlook ใหม่ก็ได้ครับ", parent=q)
    # Only the asker, a facilitator or a scribe.
    assert "เฉพาะผู้ถาม คุณอำนวย หรือคุณลิขิต" in _command_reply(app, OTHER, "accept #Q1 2")
    # Two answers: the number is needed, and the reply says which there are.
    assert "#Q1 มีคำตอบหมายเลข 1, 2" in _command_reply(app, ASKER, "ยอมรับ Q1")
    assert "ไม่พบกระทู้ #Q9" in _command_reply(app, ASKER, "accept #Q9 1")
    # A superscript digit is a digit to str.isdigit but not a number: answered, not a crash.
    assert "#Q1 มีคำตอบหมายเลข 1, 2" in _command_reply(app, ASKER, "accept #Q1 ²")
    assert _thread_status(app) == "answered" and _outbox(app, "entry-filed") == []
    # A facilitator accepts on the asker's behalf; the thread is read from the subject.
    _mail(app, FACILITATOR, "Re: [KM-IT] Did an answer solve it? #Q1 Outlook", "accept 2", to="km-it-request@example.org")
    assert _thread_status(app) == "solved"
    with app.sessions() as s:
        assert s.scalars(select(KbEntry)).one().answer == "หรือสร้างโปรไฟล์ Outlook ใหม่ก็ได้ครับ"
    assert "#Q1 แก้ได้แล้ว" in _command_reply(app, ASKER, "accept #Q1 1")


def test_a_nudge_threads_under_the_question_it_names(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q = _mail(app, ASKER, "VPN หลุดบ่อย ทำอย่างไรดีครับ", "หลุดทุกสิบนาทีครับ")
    app.clock.advance(timedelta(hours=49))
    run_job(JobEnv.from_app(app), "nudge-unanswered", app.settings.communities[0])
    nudge = _outbox(app, "nudge")[0][0]
    # The stored id has no angle brackets; the header must, or mail clients cannot thread it.
    assert nudge["In-Reply-To"] == q and nudge["References"] == q


def test_an_english_community_is_asked_in_english(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path, language="en")
    q = _mail(app, ASKER, "Outlook keeps asking for my password?", "Every time I open it.")
    a = _mail(app, HELPER, "Re: [KM-IT #Q1] Outlook", "Clear the old password in Credential Manager.", parent=q)
    _mail(app, ASKER, "Re: [KM-IT #Q1] Outlook", "Thanks, that fixed it!\n\nSomchai", parent=a)
    offer = _outbox(app, "accept-offer")[0][0]
    assert offer["Subject"] == "[KM-IT] Keep the answer as knowledge? #Q1 Outlook keeps asking for my password?"
    assert 'reply to this mail with "accept #Q1 <answer number>"' in _text(offer)
    assert "1. สุดา รักเรียน: Clear the old password in Credential Manager." in _text(offer)
    _mail(app, ASKER, "Re: " + str(offer["Subject"]), "accept #Q1 1", to="km-it-request@example.org")
    assert _thread_status(app) == "solved"


def test_an_old_question_answered_late_is_asked_about_days_after_that_answer(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q = _mail(app, ASKER, "Outlook ถามรหัสผ่านซ้ำทุกครั้ง ทำอย่างไรดีครับ", "ใส่รหัสแล้วก็ถามอีกครับ")
    app.clock.advance(timedelta(days=40))  # nobody answered for weeks
    _mail(app, HELPER, "Re: [KM-IT #Q1] Outlook", "ลบรหัสผ่านเก่าใน Credential Manager ค่ะ", parent=q)
    _job(app, timedelta(days=2))
    assert _outbox(app, "accept-offer") == []
    _job(app, timedelta(days=1, hours=1))
    assert [r for _m, r in _outbox(app, "accept-offer")] == [[ASKER[0]]]
