"""Questions become numbered threads, replies answers, #solved/#accept/#kb file knowledge entries.

Runs the real pipeline (rules, handlers, templates) on SQLite and PostgreSQL; outgoing mail is read
back from the outbox rows the handlers wrote.
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

from mailbot.knowledge import search
from mailbot.knowledge.models import Answer, KbEntry, Thread
from mailbot.store.models import Message, Outbox
from tests.helpers import add_members, make_app, member_mail, settings_for

ASKER = ("somchai@example.org", "สมชาย ใจดี")
HELPER = ("suda@example.org", "สุดา รักเรียน")
OTHER = ("anan@example.org", "อนันต์ ช่างคิด")
SCRIBE = ("pim@example.org", "พิมพ์ใจ บันทึกดี", "scribe")
FACILITATOR = ("boss@example.org", "ผู้ดูแล", "facilitator")


def _app(db_url: str, tmp_path: Path, **community: Any) -> Any:
    app = make_app(settings_for(db_url, tmp_path, **community))
    add_members(app, ASKER, HELPER, OTHER, SCRIBE, FACILITATOR)
    return app


def _ingest(app: Any, raw: bytes) -> Any:
    return app.ingest(raw, source="test", source_ref="t")


def _outbox(app: Any, kind: str | None = None) -> list[EmailMessage]:
    with app.sessions() as s:
        q = select(Outbox).order_by(Outbox.id)
        if kind:
            q = q.where(Outbox.kind == kind)
        return [
            email.message_from_bytes(o.data, policy=email.policy.default)
            for o in s.scalars(q)
        ]


def _body(m: EmailMessage) -> str:
    part = m.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _ask(app: Any, subject: str = "เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก ทำอย่างไรดีครับ", body: str = "กดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ") -> tuple[str, Any]:
    raw = member_mail(ASKER[0], subject, body, name=ASKER[1])
    msgid = email.message_from_bytes(raw)["Message-ID"]
    return msgid, _ingest(app, raw)


def _reply(app: Any, who: tuple[str, ...], parent: str, body: str, subject: str = "Re: [KM-IT #Q1] เครื่องพิมพ์") -> tuple[str, Any]:
    raw = member_mail(who[0], subject, body, name=who[1], in_reply_to=parent)
    return email.message_from_bytes(raw)["Message-ID"], _ingest(app, raw)


def _command(app: Any, who: tuple[str, ...], body: str, kind: str | None = None) -> EmailMessage:
    """Mail `body` to the request address as `who`; the last mail queued (of `kind`) in return."""
    _ingest(app, member_mail(who[0], "Re: hello", body, name=who[1], to="km-it-request@example.org"))
    return _outbox(app, kind)[-1]


def _still_answered_and_unfiled(app: Any) -> None:
    """The thread keeps its answers unaccepted and no entry was filed from it."""
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().status == "answered"
        assert s.scalars(select(KbEntry)).all() == []


def test_question_gets_a_number_and_tagged_subject(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    _, result = _ask(app)
    assert (result.status, result.kind) == ("processed", "question")
    _, second = _ask(app, subject="Q: how do I join the Wi-Fi for guests", body="Which network?")
    assert second.kind == "question"
    copies = _outbox(app, "list-copy")
    assert copies[0]["Subject"] == "[KM-IT #Q1] เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก ทำอย่างไรดีครับ"
    assert copies[1]["Subject"].startswith("[KM-IT #Q2] ")
    with app.sessions() as s:
        threads = s.scalars(select(Thread).order_by(Thread.number)).all()
        assert [(t.number, t.topic, t.status) for t in threads] == [(1, "printer", "open"), (2, "wifi", "open")]
        assert threads[1].subject == "how do I join the Wi-Fi for guests"  # "Q:" stripped from the title


@pytest.mark.parametrize(
    ("subject", "kind"),
    [
        ("ถาม: ลง driver เครื่องสแกน", "question"),
        ("[Q] VPN from home", "question"),
        ("คำถาม: ขอไฟล์ AAR", "question"),
        ("ต่อไวไฟชั้น 5 ไม่ได้ ใครเป็นบ้างไหมครับ", "question"),
        ("ลงโปรแกรมนี้ยังไง", "question"),
        ("Is the intranet down?", "question"),
        ("ประกาศ: ปิดระบบคืนนี้ 22.00 น.", "post"),
        ("Re: something we never saw?", "post"),
    ],
)
def test_question_rules(sqlite_url: str, tmp_path: Path, subject: str, kind: str) -> None:
    app = _app(sqlite_url, tmp_path)
    result = _ingest(app, member_mail(ASKER[0], subject, "รายละเอียดครับ"))
    assert result.kind == kind


LONG_LINE = (
    "The shared drive went read-only after the migration last night, and our section lost an afternoon of "
    "work; who decided the schedule?"
)


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        # The ask is in the body: the subject only names the problem (Outlook, Gmail, phones alike).
        ("Outlook keeps asking for my password", "Hello everyone,\n\nIt pops up every few minutes.\nAny idea?\n\nThanks,\nBob", "question"),
        ("เครื่องพิมพ์ชั้น 3", "ปริ้นไม่ออกเลย ไฟสีส้มกระพริบ\nใครเคยเจอบ้างครับ", "question"),
        ("VPN", "ต่อจากบ้านไม่ได้ ต้องตั้งค่าอะไรเพิ่มไหมคะ", "question"),
        ("Shared drive", LONG_LINE, "post"),  # prose that ends in a question mark is not the ask
        ("ประกาศ: ปิดระบบคืนนี้", "ปิดระบบคืนนี้ 22.00 น. ขออภัยในความไม่สะดวก", "post"),
        ("Lessons learned", "Short weekly stand-ups helped.\n\n> did they?\n", "post"),  # a quote asks nothing
        ("Re: Outlook keeps asking", "Same here. Any idea?", "post"),  # a reply stays a reply
    ],
)  # fmt: skip
def test_a_question_asked_in_the_body(sqlite_url: str, tmp_path: Path, subject: str, body: str, kind: str) -> None:
    app = _app(sqlite_url, tmp_path)
    assert _ingest(app, member_mail(ASKER[0], subject, body)).kind == kind


def test_ask_subaddress_is_a_question(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    raw = member_mail(ASKER[0], "ขอคำแนะนำเรื่องการเก็บไฟล์", "รายละเอียด", to="km-it+ask@example.org")
    assert _ingest(app, raw).kind == "question"


def test_solved_by_asker_files_an_entry_that_search_finds(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app)
    gmail_reply = (
        "ลองปิดเปิดเครื่องพิมพ์ แล้วลบงานค้างในคิวก่อนครับ\n\n"
        "เมื่อ จ. 16 พ.ย. 2569 เวลา 09:00 สมชาย ใจดี <somchai@example.org> เขียนว่า:\n"
        "> กดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ\n"
    )
    a1, r1 = _reply(app, HELPER, q, gmail_reply)
    assert (r1.kind, r1.status) == ("answer", "processed")
    outlook_reply = (
        "ไดรเวอร์เก่าเกินไปค่ะ ให้ติดตั้งไดรเวอร์ใหม่จากหน้าเว็บฝ่ายไอที\n\n"
        "จาก: สมชาย ใจดี <somchai@example.org>\nส่ง: 16 พฤศจิกายน 2569 9:00\n"
        "ถึง: km-it@example.org\nเรื่อง: เครื่องพิมพ์ชั้น 3\n\nกดสั่งพิมพ์แล้วเงียบ\n"
    )
    a2, r2 = _reply(app, OTHER, q, outlook_reply)
    assert r2.kind == "answer"
    # #solved in reply to the first answer accepts that one, not the latest.
    _, r3 = _reply(app, ASKER, a1, "#แก้ได้แล้ว\nขอบคุณมากครับ ใช้ได้แล้ว")
    assert "accepted" in r3.reason
    with app.sessions() as s:
        answers = s.scalars(select(Answer).order_by(Answer.number)).all()
        assert [a.text for a in answers] == [
            "ลองปิดเปิดเครื่องพิมพ์ แล้วลบงานค้างในคิวก่อนครับ",
            "ไดรเวอร์เก่าเกินไปค่ะ ให้ติดตั้งไดรเวอร์ใหม่จากหน้าเว็บฝ่ายไอที",
        ]
        assert [a.accepted for a in answers] == [True, False]
        thread = s.scalars(select(Thread)).one()
        assert thread.status == "solved"
        entry = s.scalars(select(KbEntry)).one()
        assert entry.title == "เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก ทำอย่างไรดีครับ"
        assert entry.answer == answers[0].text and entry.status == "published" and entry.topic == "printer"
        assert "สมชาย ใจดี" in entry.contributors_json and "สุดา รักเรียน" in entry.contributors_json
        hits = search.search(s, entry.community_id, "เครื่องพิมพ์")
        assert [(h.kind, h.number) for h in hits] == [("entry", 1)]
    # The solved note still reaches the group, tagged.
    assert _outbox(app, "list-copy")[-1]["Subject"].startswith("Re: [KM-IT #Q1]")


def test_answers_and_the_entry_leave_the_sign_off_out(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app, body="กดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ\n\nขอบคุณครับ\nสมชาย")
    a1, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวก่อน แล้วปิดเปิดเครื่องพิมพ์ค่ะ\n\nขอบคุณค่ะ\nสุดา")
    _reply(app, ASKER, a1, "#solved\nใช้ได้แล้วครับ")
    with app.sessions() as s:
        thread = s.scalars(select(Thread)).one()
        assert thread.question_text == "กดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ"
        entry = s.scalars(select(KbEntry)).one()
        assert entry.question == thread.question_text
        assert entry.answer == "ลบงานค้างในคิวก่อน แล้วปิดเปิดเครื่องพิมพ์ค่ะ"
        assert "สุดา รักเรียน" in entry.contributors_json  # who answered is kept beside the text
    # The group's copy is the member's mail as written, sign-off and all.
    assert "ขอบคุณค่ะ\nสุดา" in _body(_outbox(app, "list-copy")[1]).replace("\r\n", "\n")


def test_questions_answers_and_entries_leave_the_greeting_out(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app, body="สวัสดีครับ ทุกท่าน\n\nกดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ")
    a1, _ = _reply(app, HELPER, q, "Hi Somchai,\n\nClear the print queue, then restart the printer.")
    _reply(app, ASKER, a1, "#solved")
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().question_text == "กดสั่งพิมพ์แล้วเงียบ ไม่มีอะไรออกมาเลยครับ"
        assert s.scalars(select(Answer)).one().text == "Clear the print queue, then restart the printer."
        entry = s.scalars(select(KbEntry)).one()
        assert entry.question.startswith("กดสั่งพิมพ์") and entry.answer.startswith("Clear the print queue")
    # The group's copies are the mails as written, greetings and all.
    copies = [_body(m) for m in _outbox(app, "list-copy")]
    assert copies[0].startswith("สวัสดีครับ ทุกท่าน") and copies[1].startswith("Hi Somchai,")


def test_bare_addresses_are_named_by_the_member_list(db_url: str, tmp_path: Path) -> None:
    # Phones often send a bare address: threads and entries still name people as the member list does.
    app = _app(db_url, tmp_path)
    raw = member_mail(ASKER[0], "ถาม: Wi-Fi ชั้น 5 หลุดบ่อย", "หลุดทุกสิบนาทีครับ")
    q = email.message_from_bytes(raw)["Message-ID"]
    _ingest(app, raw)
    raw = member_mail(HELPER[0], "Re: [KM-IT #Q1] Wi-Fi", "เปลี่ยนไปใช้คลื่น 5GHz ค่ะ\n\nสุดา", in_reply_to=q)
    a1 = email.message_from_bytes(raw)["Message-ID"]
    _ingest(app, raw)
    _ingest(app, member_mail(ASKER[0], "Re: [KM-IT #Q1] Wi-Fi", "#solved", in_reply_to=a1))
    with app.sessions() as s:
        thread = s.scalars(select(Thread)).one()
        answer = s.scalars(select(Answer)).one()
        assert (thread.asker_name, answer.author_name) == (ASKER[1], HELPER[1])
        assert answer.text == "เปลี่ยนไปใช้คลื่น 5GHz ค่ะ"  # signed with the registered first name
        entry = s.scalars(select(KbEntry)).one()
        assert "@" not in entry.contributors_json and HELPER[1] in entry.contributors_json


def test_an_answer_that_overtook_its_question_is_named_and_trimmed_alike(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    question = member_mail(ASKER[0], "ถาม: Wi-Fi ชั้น 5 หลุดบ่อย", "หลุดทุกสิบนาทีครับ")
    q = email.message_from_bytes(question)["Message-ID"]
    # The reply arrives first (a slow relay held the question back); the question adopts it.
    _ingest(app, member_mail(HELPER[0], "Re: ถาม: Wi-Fi ชั้น 5 หลุดบ่อย", "เปลี่ยนไปใช้คลื่น 5GHz ค่ะ\n\nสุดา", in_reply_to=q))
    _ingest(app, question)
    with app.sessions() as s:
        answer = s.scalars(select(Answer)).one()
        assert (answer.author_name, answer.text) == (HELPER[1], "เปลี่ยนไปใช้คลื่น 5GHz ค่ะ")


def test_a_me_too_is_not_an_answer_and_the_question_stays_unanswered(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app)
    _, r1 = _reply(app, OTHER, q, "ผมก็เป็นเหมือนกันครับ\n\nอนันต์")
    _, r2 = _reply(app, HELPER, q, "Same here!")
    assert "me too" in r1.reason and "me too" in r2.reason
    with app.sessions() as s:
        thread = s.scalars(select(Thread)).one()
        assert (thread.status, thread.answer_count) == ("open", 0)  # still nudged, still "no answer yet"
        assert s.scalars(select(Answer)).all() == []
    assert len(_outbox(app, "list-copy")) == 3  # the group still hears it: the question matters to many
    # Two days on, the nudge tells the helpers how many others have the problem.
    from mailbot.jobs.base import JobEnv
    from mailbot.jobs.nudges import run_nudges

    app.clock.set(app.clock.now() + timedelta(hours=49))
    run_nudges(JobEnv.from_app(app), app.settings.communities[0], app.clock.now())
    [nudge] = _outbox(app, "nudge")
    assert "และมีสมาชิกอีก 2 คนบอกว่าเจอปัญหาเดียวกัน" in _body(nudge)
    # A reply that says more is an answer, numbered 1.
    _, r3 = _reply(app, HELPER, q, "ผมก็เป็นครับ แก้โดยลบงานค้างในคิวแล้วปิดเปิดเครื่อง")
    assert "answer 1" in r3.reason


def test_unauthorised_solved_is_refused_politely(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app)
    a1, _ = _reply(app, HELPER, q, "ลองรีสตาร์ทครับ")
    _, r = _reply(app, OTHER, a1, "#solved")
    assert "refused" in r.reason
    refusals = _outbox(app, "accept-refused")
    assert len(refusals) == 1 and refusals[0]["To"] == OTHER[0]
    assert "#Q1" in refusals[0]["Subject"] and "สมชาย ใจดี" in _body(refusals[0])
    _still_answered_and_unfiled(app)


def test_solved_in_quoted_text_does_nothing(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask(app)
    a1, _ = _reply(app, HELPER, q, "ลองรีสตาร์ทครับ")
    body = "ลองถอดสายแลนแล้วเสียบใหม่ครับ\n\nOn Mon, 16 Nov 2026 somchai wrote:\n> #solved\n> ok\n"
    _, r = _reply(app, OTHER, a1, body)
    assert "answer 2" in r.reason
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().status == "answered"


def test_accept_n_by_facilitator_and_helpful_answers(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path, scribe_review=True)
    q, _ = _ask(app)
    _reply(app, HELPER, q, "คำตอบแรก: รีสตาร์ทเครื่อง")
    _reply(app, OTHER, q, "คำตอบที่สอง: เปลี่ยนไดรเวอร์")
    _, r = _reply(app, FACILITATOR, q, "#accept 2, 1")
    assert "answer 2 accepted" in r.reason
    with app.sessions() as s:
        entry = s.scalars(select(KbEntry)).one()
        assert entry.answer == "คำตอบที่สอง: เปลี่ยนไดรเวอร์"
        assert "คำตอบแรก" in entry.helpful_json
        assert entry.status == "draft"  # scribe review on: not yet visible to search
        assert search.search(s, entry.community_id, "ไดรเวอร์") == []
        assert [h.number for h in search.search(s, entry.community_id, "ไดรเวอร์", include_hidden=True)] == [1]
    # The scribe corrects and publishes it by e-mail.
    _, r = _reply(app, SCRIBE, q, "#kb edit\ntitle: เครื่องพิมพ์ไม่ออกงาน\nถอนไดรเวอร์เก่า แล้วติดตั้งรุ่นใหม่")
    assert "corrected" in r.reason
    with app.sessions() as s:
        entry = s.scalars(select(KbEntry)).one()
        assert (entry.title, entry.answer, entry.status) == (
            "เครื่องพิมพ์ไม่ออกงาน", "ถอนไดรเวอร์เก่า แล้วติดตั้งรุ่นใหม่", "published"
        )
        assert [h.title for h in search.search(s, entry.community_id, "ถอนไดรเวอร์")] == ["เครื่องพิมพ์ไม่ออกงาน"]
    sent = _outbox(app, "kb-entry")
    assert sent and sent[-1]["To"] == SCRIBE[0] and "ถอนไดรเวอร์เก่า" in _body(sent[-1])


def test_kb_by_scribe_files_without_solving_and_member_kb_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask(app)
    _reply(app, HELPER, q, "ใช้ปุ่ม reset ด้านหลังครับ")
    _, refused = _reply(app, OTHER, q, "#kb")
    assert "refused" in refused.reason
    _, r = _reply(app, SCRIBE, q, "#kb")
    assert "entry 1 filed" in r.reason
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().status == "answered"
        assert s.scalars(select(KbEntry)).one().answer == "ใช้ปุ่ม reset ด้านหลังครับ"
        # #kb mail talks to the bot: it is not redistributed.
        kinds = [m.kind for m in s.scalars(select(Message).order_by(Message.id))]
        assert kinds == ["question", "answer", "answer", "answer"]
    assert len(_outbox(app, "list-copy")) == 2


def _html(m: EmailMessage) -> str:
    part = m.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_accepting_thanks_the_answerer_and_tells_the_asker_the_entry_number(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app)
    a1, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวแล้วปิดเปิดเครื่องพิมพ์ค่ะ")
    solved, _ = _reply(app, ASKER, a1, "#solved\nใช้ได้แล้วครับ")
    filed = _outbox(app, "entry-filed")
    assert len(filed) == 1  # one mail, to both: the answerer thanked, the asker told where it went
    assert {a.strip() for a in str(filed[0]["To"]).split(",")} == {ASKER[0], HELPER[0]}
    assert filed[0]["Subject"] == "[KM-IT] บันทึกเป็นความรู้แล้ว #1: เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก ทำอย่างไรดีครับ"
    text = _body(filed[0])
    assert "สมชาย ใจดี ยอมรับคำตอบของสุดา รักเรียน ในกระทู้ #Q1" in text
    assert "ขอบคุณคุณสุดา รักเรียน" in text and '"kb 1"' in text
    assert "ลบงานค้างในคิวแล้วปิดเปิดเครื่องพิมพ์ค่ะ" in text  # the entry as filed, to check it
    assert "ขอบคุณคุณสุดา รักเรียน" in _html(filed[0])
    assert filed[0]["In-Reply-To"] == solved  # threads under the #solved mail


def test_an_answerer_who_files_their_own_answer_is_not_thanked_by_themselves(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask(app)
    _reply(app, FACILITATOR, q, "รีสตาร์ท print spooler ครับ")
    _reply(app, FACILITATOR, q, "#accept 1")
    filed = _outbox(app, "entry-filed")
    assert len(filed) == 1 and filed[0]["To"] == FACILITATOR[0]
    text = _body(filed[0])
    assert "ยอมรับคำตอบของตนเอง" in text and "ขอบคุณคุณ" not in text


def test_accept_of_an_answer_that_does_not_exist_lists_the_answers(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path, language="en")
    q, _ = _ask(app)
    _reply(app, HELPER, q, "Restart the printer, then clear the queue.")
    _reply(app, OTHER, q, "Update the driver from the IT portal.")
    _, r = _reply(app, ASKER, q, "#accept 5\nthanks")
    assert "no answer 5" in r.reason
    told = _outbox(app, "control-not-applied")
    assert len(told) == 1 and told[0]["To"] == ASKER[0]
    text = _body(told[0])
    assert "the thread has no answer 5" in text
    assert "1. สุดา รักเรียน: Restart the printer" in text and "2. อนันต์ ช่างคิด: Update the driver" in text
    assert "[KM-IT #Q1]" in text  # the subject that puts a new #accept into the thread
    assert "Your mail still reached the group" in text
    html = _html(told[0])
    assert "mailto:km-it@example.org?subject=Re%3A%20%5BKM-IT%20%23Q1%5D" in html and "body=%23accept%202" in html
    _still_answered_and_unfiled(app)


def test_kb_on_an_unanswered_thread_and_kb_edit_before_any_entry_are_answered(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask(app)
    _, r1 = _reply(app, SCRIBE, q, "#kb")
    _, r2 = _reply(app, SCRIBE, q, "#kb edit\ntitle: เครื่องพิมพ์ไม่ออกงาน")
    assert "no answer yet" in r1.reason and "no entry filed" in r2.reason
    told = _outbox(app, "control-not-applied")
    assert [m["To"] for m in told] == [SCRIBE[0], SCRIBE[0]]
    assert "กระทู้นี้ยังไม่มีคำตอบ จึงยังไม่มีอะไรให้บันทึก" in _body(told[0])
    assert 'ยังไม่มีบันทึกความรู้จากกระทู้นี้ ส่ง "#kb" ก่อน' in _body(told[1])
    assert "ส่งถึงกลุ่ม" not in _body(told[0])  # #kb talks to the bot: it did not reach the group


def test_a_draft_goes_to_the_scribes_who_publish_it_with_kb_ok(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path, scribe_review=True)
    q, _ = _ask(app)
    _reply(app, HELPER, q, "ถอนไดรเวอร์เก่าแล้วติดตั้งใหม่ค่ะ")
    _reply(app, FACILITATOR, q, "#accept 1")
    filed = _outbox(app, "entry-filed")
    assert len(filed) == 1 and "รอคุณลิขิตตรวจทาน" in _body(filed[0])
    review = _outbox(app, "entry-review")
    assert len(review) == 1 and review[0]["To"] == SCRIBE[0]  # the facilitator cannot publish: not asked
    assert review[0]["Subject"].startswith("[KM-IT] รอตรวจทาน: บันทึกความรู้ #1")
    assert '"kb 1 ok"' in _body(review[0]) and "ถอนไดรเวอร์เก่า" in _body(review[0])
    assert str(review[0]["From"]).endswith("<km-it-request@example.org>")  # a reply is a command

    def command(who: tuple[str, ...], body: str) -> str:
        return _body(_command(app, who, body, "command-reply"))

    assert "ไม่พบบันทึกความรู้หมายเลข 1" in command(OTHER, "kb 1")  # members do not see drafts
    assert "เฉพาะคุณลิขิตเท่านั้นที่เผยแพร่ได้" in command(FACILITATOR, "kb 1 ok")
    with app.sessions() as s:
        entry = s.scalars(select(KbEntry)).one()
        assert entry.status == "draft" and search.search(s, entry.community_id, "ไดรเวอร์") == []
    assert "kb 1 เผยแพร่แล้ว" in command(SCRIBE, "kb 1 ok")
    with app.sessions() as s:
        entry = s.scalars(select(KbEntry)).one()
        assert entry.status == "published"
        assert [h.number for h in search.search(s, entry.community_id, "ไดรเวอร์")] == [1]


def test_what_a_scribe_files_needs_no_second_review(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path, scribe_review=True)
    q, _ = _ask(app)
    _reply(app, HELPER, q, "ใช้ปุ่ม reset ด้านหลังครับ")
    _, r = _reply(app, SCRIBE, q, "#kb")
    assert "entry 1 filed (published)" in r.reason
    assert _outbox(app, "entry-review") == []
    filed = _outbox(app, "entry-filed")
    assert {a.strip() for a in str(filed[0]["To"]).split(",")} == {SCRIBE[0], HELPER[0]}
    assert "พิมพ์ใจ บันทึกดี บันทึกกระทู้ #Q1" in _body(filed[0])


def test_reply_found_by_subject_tag_when_references_are_dropped(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    _ask(app)
    raw = member_mail(HELPER[0], "RE: [KM-IT #Q1] เครื่องพิมพ์ชั้น 3", "ลองเปลี่ยนสายครับ")
    result = _ingest(app, raw)
    assert (result.kind, result.reason.split(" ")[:3]) == ("answer", ["#Q1", "answer", "1;"])


def test_related_entries_are_offered_privately(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    q, _ = _ask(app)
    a, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวเครื่องพิมพ์ แล้วสั่งใหม่")
    _reply(app, ASKER, a, "#solved")
    raw = member_mail(OTHER[0], "เครื่องพิมพ์ชั้น 2 ก็ปริ้นไม่ออก ทำไงดีครับ?", "เหมือนกันเลย")
    assert _ingest(app, raw).kind == "question"
    related = _outbox(app, "related-entries")
    assert len(related) == 1 and related[0]["To"] == OTHER[0]
    assert "[1] เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก" in _body(related[0])


def test_an_entry_that_answered_the_question_closes_it(sqlite_url: str, tmp_path: Path) -> None:
    """The asker answers the "may already be answered" mail with `kb 1 ได้ผล`: the question is
    solved, so nobody is nudged to answer it again; a `kb 1 ได้ผล` about nothing of theirs closes nothing."""
    app = _app(sqlite_url, tmp_path, nudge_hours=1)
    q, _ = _ask(app)
    a, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวเครื่องพิมพ์ แล้วสั่งใหม่")
    _reply(app, ASKER, a, "#solved")
    _ingest(app, member_mail(OTHER[0], "เครื่องพิมพ์ชั้น 2 ก็ปริ้นไม่ออก ทำไงดีครับ?", "เหมือนกันเลย", name=OTHER[1]))
    _ingest(app, member_mail(HELPER[0], "wifi หลุดบ่อย ทำไงดีคะ?", "ทุกบ่าย", name=HELPER[1]))
    [related] = [m for m in _outbox(app, "related-entries") if m["To"] == OTHER[0]]
    assert "kb <หมายเลข> ได้ผล  ระบบจะปิดคำถามให้" in _body(related)
    reply = member_mail(OTHER[0], f"Re: {related['Subject']}", "kb 1 ได้ผลครับ", name=OTHER[1],
                        to="km-it-request@example.org", in_reply_to=str(related["Message-ID"]))  # fmt: skip
    # The reply's References carry the question's id too, as mail clients keep the chain.
    reply = reply.replace(b"References: ", b"References: " + str(related["In-Reply-To"]).encode() + b" ", 1)
    _ingest(app, reply)
    assert "คำถาม #Q2 ของคุณปิดแล้ว" in _body(_outbox(app, "command-reply")[-1])
    _command(app, HELPER, "kb 1 ได้ผล")  # not in reply to anything about her own question
    with app.sessions() as s:
        assert {t.number: t.status for t in s.scalars(select(Thread))} == {1: "solved", 2: "solved", 3: "open"}
    app.clock.advance(timedelta(hours=2))
    from mailbot.jobs import run_job
    from mailbot.jobs.base import JobEnv

    run_job(JobEnv.from_app(app), "nudge-unanswered", app.settings.communities[0])
    assert [str(m["Subject"]) for m in _outbox(app, "nudge")] == ["[KM-IT] ช่วยตอบหน่อย: #Q3 wifi หลุดบ่อย ทำไงดีคะ?"]


def test_related_entries_share_a_word_with_the_entry_title(sqlite_url: str, tmp_path: Path) -> None:
    """One common word in an entry's answer ("drops") does not make it an answer to a VPN question;
    a question whose words its title shares ("drive", "restart" ~ "reboot") still gets it."""
    app = _app(sqlite_url, tmp_path, language="en")
    q, _ = _ask(app, subject="Shared drive mapping disappears after reboot?", body="Every time I restart, S: is gone.")
    a, _ = _reply(app, HELPER, q, "Tick 'Reconnect at sign-in'. If it still drops, map it with /persistent:yes.")
    _reply(app, ASKER, a, "#solved")
    _ingest(app, member_mail(OTHER[0], "VPN drops every 10 minutes from home?", "It reconnects but calls drop.", name=OTHER[1]))
    assert _outbox(app, "related-entries") == []
    _ingest(app, member_mail(OTHER[0], "Mapped drive lost after a restart?", "The S: drive is gone again.", name=OTHER[1]))
    [related] = _outbox(app, "related-entries")
    assert "[1] Shared drive mapping disappears after reboot?" in _body(related)


def test_related_entries_appended_to_the_copy(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path, related_entries="append")
    q, _ = _ask(app)
    a, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวเครื่องพิมพ์")
    _reply(app, ASKER, a, "#solved")
    _ingest(app, member_mail(OTHER[0], "เครื่องพิมพ์ไม่ทำงานอีกแล้ว?", "ช่วยด้วย"))
    assert _outbox(app, "related-entries") == []
    last = _outbox(app, "list-copy")[-1]
    assert "[1] เครื่องพิมพ์ชั้น 3" in last.as_string() or "[1]" in str(last.get_payload())


def test_topic_hashtag_overrides_keywords(sqlite_url: str, tmp_path: Path) -> None:
    app = _app(sqlite_url, tmp_path)
    _ask(app, subject="ปริ้นไม่ออกเพราะไวรัสหรือเปล่า #virus", body="เครื่องพิมพ์ทำงานแปลก ๆ")
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().topic == "virus"


def test_members_say_an_entry_worked_and_everyone_sees_it(db_url: str, tmp_path: Path) -> None:
    app = _app(db_url, tmp_path)
    q, _ = _ask(app)
    a1, _ = _reply(app, HELPER, q, "ลบงานค้างในคิวแล้วปิดเปิดเครื่องพิมพ์ค่ะ")
    _reply(app, ASKER, a1, "#solved")

    def command(who: tuple[str, ...], body: str) -> EmailMessage:
        return _command(app, who, body)

    # "ใช้ได้ผล" (it worked) is a member's word, not a scribe's "ใช้ได้" (still right).
    assert "บันทึกนี้ใช้ได้ผลกับสมาชิก 1 คนแล้ว" in _body(command(OTHER, "ความรู้ 1 ใช้ได้ผลครับ"))
    assert "คุณเคยบอกไว้แล้ว บันทึกนี้ใช้ได้ผลกับสมาชิก 1 คนแล้ว" in _body(command(OTHER, "kb 1 ได้ผล"))  # once each
    assert "ใช้ได้ผลกับสมาชิก 2 คนแล้ว" in _body(command(SCRIBE, "kb 1 worked"))
    with app.sessions() as s:
        assert s.scalars(select(KbEntry)).one().status == "published"  # feedback changes no status
    entry = command(ASKER, "kb 1")
    assert "ใช้ได้ผลกับสมาชิก 2 คน" in _body(entry) and "kb 1 ได้ผล" in _body(entry)  # and how to say so
    results = command(ASKER, "ค้นหา เครื่องพิมพ์")
    assert "ใช้ได้ผลกับ 2 คน" in _body(results)
