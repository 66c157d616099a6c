"""A whole Thai conversation over real Dovecot (IMAP in) and a real SMTP server (out):
question -> two answers (Gmail-style Thai quote, Thai Outlook block) -> refused and accepted #solved
-> knowledge entry (the answerer thanked) -> another member finds it with `ค้นหา` at the request address.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailbot.config import ImapSettings
from mailbot.knowledge.models import Answer, KbEntry, Thread
from tests.helpers import add_members, make_app, member_mail, settings_for

ASKER = ("somchai@example.org", "สมชาย ใจดี")
GMAIL = ("suda@example.org", "สุดา รักเรียน")
OUTLOOK = ("anan@example.org", "อนันต์ ช่างคิด")
SEEKER = ("pim@example.org", "พิมพ์ใจ บันทึกดี")
QUESTION = "เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก ทำอย่างไรดีครับ"


def _round(app: Any, dovecot: Any, imap: ImapSettings, sink: Any, expect: int, *raws: bytes) -> list[EmailMessage]:
    sink.clear()
    for raw in raws:
        dovecot.append(imap.username, "INBOX", raw)
    counts = app.run_once()
    assert counts["fetched"] == len(raws) and counts["failed"] == 0
    got = sink.wait_for(expect, timeout=15)
    assert len(got) == expect
    out = []
    for m in got:
        parsed = email.message_from_bytes(m.data, policy=email.policy.default)
        parsed["X-Test-Rcpt"] = ",".join(m.rcpt_tos)
        out.append(parsed)
    return out


def _text(m: EmailMessage) -> str:
    part = m.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_thai_question_to_knowledge_entry_found_by_search(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port, imap=imap_settings))
    add_members(app, ASKER, GMAIL, OUTLOOK, SEEKER)

    question = member_mail(ASKER[0], QUESTION, "กดสั่งพิมพ์แล้วเงียบ ไฟสีส้มกระพริบครับ", name=ASKER[1])
    qid = str(email.message_from_bytes(question)["Message-ID"])
    copies = _round(app, dovecot, imap_settings, smtp_sink, 3, question)
    assert {str(c["Subject"]) for c in copies} == {f"[KM-IT #Q1] {QUESTION}"}

    gmail = member_mail(
        GMAIL[0], f"Re: [KM-IT #Q1] {QUESTION}",
        "ลบงานค้างในคิวการพิมพ์ แล้วปิดเปิดเครื่องพิมพ์ใหม่ค่ะ\n\n"
        f"เมื่อ จ. 16 พ.ย. 2569 เวลา 09:00 {ASKER[1]} <{ASKER[0]}> เขียนว่า:\n\n"
        "> กดสั่งพิมพ์แล้วเงียบ ไฟสีส้มกระพริบครับ\n",
        name=GMAIL[1], in_reply_to=qid,
    )
    outlook = member_mail(
        OUTLOOK[0], f"RE: [KM-IT #Q1] {QUESTION}",
        "ไฟส้มกระพริบแปลว่ากระดาษติดครับ เปิดฝาหลังดึงกระดาษออก\n\n"
        "ส่งจาก iPhone ของฉัน\n\n"
        f"จาก: {ASKER[1]} <{ASKER[0]}>\nส่ง: 16 พฤศจิกายน 2569 9:00\nถึง: km-it@example.org\n"
        f"เรื่อง: {QUESTION}\n\nกดสั่งพิมพ์แล้วเงียบ ไฟสีส้มกระพริบครับ\n",
        name=OUTLOOK[1], in_reply_to=qid,
    )
    gid = str(email.message_from_bytes(gmail)["Message-ID"])
    copies = _round(app, dovecot, imap_settings, smtp_sink, 6, gmail, outlook)
    # The distributed copy stays whole (quote included); only the stored answer is stripped.
    assert any("เขียนว่า:" in _text(c) for c in copies)
    with app.sessions() as s:
        assert [a.text for a in s.scalars(select(Answer).order_by(Answer.number))] == [
            "ลบงานค้างในคิวการพิมพ์ แล้วปิดเปิดเครื่องพิมพ์ใหม่ค่ะ",
            "ไฟส้มกระพริบแปลว่ากระดาษติดครับ เปิดฝาหลังดึงกระดาษออก",
        ]

    # Someone who did not ask cannot accept: a polite refusal, and the thread stays open.
    meddler = member_mail(SEEKER[0], f"Re: [KM-IT #Q1] {QUESTION}", "#solved", in_reply_to=gid)
    sent = _round(app, dovecot, imap_settings, smtp_sink, 4, meddler)
    refusal = [m for m in sent if m["X-Test-Rcpt"] == SEEKER[0] and "#Q1" in str(m["Subject"]) and "Re:" not in str(m["Subject"])]
    assert len(refusal) == 1 and ASKER[1] in _text(refusal[0])
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().status == "answered"

    solved = member_mail(ASKER[0], f"Re: [KM-IT #Q1] {QUESTION}", "#แก้ได้แล้ว\nขอบคุณคุณสุดามากครับ", in_reply_to=gid)
    sent = _round(app, dovecot, imap_settings, smtp_sink, 4, solved)
    # Three list copies, and one mail telling the asker and the answerer where the answer went.
    filed = [m for m in sent if "บันทึกเป็นความรู้แล้ว #1" in str(m["Subject"])]
    assert len(filed) == 1 and set(filed[0]["X-Test-Rcpt"].split(",")) == {ASKER[0], GMAIL[0]}
    assert f"ขอบคุณคุณ{GMAIL[1]}" in _text(filed[0])
    with app.sessions() as s:
        assert s.scalars(select(Thread)).one().status == "solved"
        entry = s.scalars(select(KbEntry)).one()
        assert (entry.number, entry.status) == (1, "published")
        assert entry.answer == "ลบงานค้างในคิวการพิมพ์ แล้วปิดเปิดเครื่องพิมพ์ใหม่ค่ะ"

    search = member_mail(SEEKER[0], "ค้นหา เครื่องพิมพ์", "ค้นหา เครื่องพิมพ์\n", to="km-it-request@example.org")
    reply = _round(app, dovecot, imap_settings, smtp_sink, 1, search)[0]
    assert reply["To"] == SEEKER[0]
    body = _text(reply)
    assert f"[1] {QUESTION}" in body and "ลบงานค้างในคิว" in body
