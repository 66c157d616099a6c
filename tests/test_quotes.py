"""split_reply on Thai and English reply shapes from Gmail, Outlook, phones, and on the corpus bodies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailbot.mail.quotes import first_lines, split_reply
from tests.corpus_files import reply_bodies

GMAIL_THAI = (
    "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ\n\n"
    "เมื่อ อ. 17 พ.ย. 2026 เวลา 09:12 สมชาย ใจดี <somchai@example.org> เขียนว่า:\n"
    "> เครื่องพิมพ์ชั้น 3 ปริ้นไม่ออก\n"
)
GMAIL_THAI_WRAPPED = (
    "ใช้ได้แล้วครับ ขอบคุณมาก\n\n"
    "เมื่อ พฤ. 19 พ.ย. 2569 เวลา 14:05 น. วิภาวดี ศรีสุข <\n"
    "wipawadee@example.org> เขียนว่า:\n\n"
    "> ลองล้างคิวงานพิมพ์ก่อนนะคะ\n>\n"
)
GOOGLE_GROUPS_THAI = (
    "เห็นด้วยค่ะ\n\n"
    "เมื่อ วันศุกร์ที่ 2 สิงหาคม ค.ศ. 2019 21 นาฬิกา 32 นาที 55 วินาที UTC+7, Somchai เขียนว่า:\n"
    "> ควรทำ After Action Review ทุกโครงการ\n"
)
OUTLOOK_THAI = (
    "ส่งไฟล์แนบให้แล้วครับ\n\n"
    "________________________________\n"
    "จาก: สมชาย ใจดี <somchai@example.org>\n"
    "ส่ง: 17 พฤศจิกายน 2569 9:12\n"
    "ถึง: km-cop@example.org\n"
    "เรื่อง: ขอแบบฟอร์ม AAR\n\n"
    "ใครมีแบบฟอร์ม AAR บ้างครับ\n"
)
OUTLOOK_THAI_SENT_AT = (
    "ได้รับแล้วค่ะ\n\n"
    "จาก: วิภาวดี ศรีสุข\n"
    "ส่งเมื่อ: วันอังคารที่ 17 พฤศจิกายน 2569 9:12\n"
    "ถึง: กลุ่ม KM\n"
    "เรื่อง: RE: ประชุมประจำเดือน\n\n"
    "นัดประชุมวันศุกร์นี้\n"
)
OUTLOOK_EN = (
    "Please use the new template.\n\n"
    "-----Original Message-----\n"
    "From: Dao <dao@example.org>\n"
    "Sent: Tuesday, November 17, 2026 9:12 AM\n"
    "To: km-cop@example.org\n"
    "Subject: Template?\n\n"
    "Which template should we use?\n"
)
OUTLOOK_EN_NO_SEPARATOR = (
    "Agreed.\n\n"
    "From: Human Resources\n<hr@example.org>\n"
    "Sent: Monday, August 26, 2019 4:37 PM\n"
    "To: Team <team@example.org>\n"
    "Subject: Policy\n\n"
    "New policy attached.\n"
)
GMAIL_EN_WRAPPED = (
    "Yes, the server is back.\n\n"
    "On Mon, Aug 26, 2019 at 4:37 PM The Hiring Engine <\n"
    "a-really-long-automated-email@example.com> wrote:\n\n"
    "> Is the server down?\n"
)
IPHONE_THAI = "โอเคครับ\n\nส่งจาก iPhone ของฉัน\n\n> เมื่อ 17 พ.ย. 2569 เวลา 09:12 สมชาย เขียนว่า:\n>\n> ประชุมกี่โมง\n"
MYMAIL_THAI = "รับทราบครับ\n\n--\nส่งจาก myMail สำหรับ Android\n"
IPHONE_EN = "Will do.\n\nSent from my iPhone\n\n> On Nov 17, 2026, at 09:12, Dao <dao@example.org> wrote:\n> Can you?\n"
OUTLOOK_ANDROID = "Sure\n\nGet Outlook for Android\n________________________________\nFrom: Dao <dao@example.org>\nSent: Tuesday\nTo: x\nSubject: y\n\nold\n"
SIG_DASHES = "See the wiki page.\n\n-- \nSomchai Jaidee\nKM Office, ext. 1234\n"
BOTTOM_POST = "> Which printer driver?\n> Version?\n\nThe 2026 driver from the vendor site.\n"
INTERLEAVED = "On Tue, Nov 17, 2026, Dao wrote:\n> Question one?\n\nAnswer one.\n\n> Question two?\n\nAnswer two.\n"

CASES = [
    (GMAIL_THAI, "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ", "เครื่องพิมพ์ชั้น 3", ""),
    (GMAIL_THAI_WRAPPED, "ใช้ได้แล้วครับ ขอบคุณมาก", "ลองล้างคิวงานพิมพ์", ""),
    (GOOGLE_GROUPS_THAI, "เห็นด้วยค่ะ", "After Action Review", ""),
    (OUTLOOK_THAI, "ส่งไฟล์แนบให้แล้วครับ", "ใครมีแบบฟอร์ม AAR", ""),
    (OUTLOOK_THAI_SENT_AT, "ได้รับแล้วค่ะ", "นัดประชุมวันศุกร์นี้", ""),
    (OUTLOOK_EN, "Please use the new template.", "Which template", ""),
    (OUTLOOK_EN_NO_SEPARATOR, "Agreed.", "New policy attached.", ""),
    (GMAIL_EN_WRAPPED, "Yes, the server is back.", "Is the server down?", ""),
    (IPHONE_THAI, "โอเคครับ", "ประชุมกี่โมง", "ส่งจาก iPhone ของฉัน"),
    (MYMAIL_THAI, "รับทราบครับ", "", "ส่งจาก myMail สำหรับ Android"),
    (IPHONE_EN, "Will do.", "Can you?", "Sent from my iPhone"),
    (OUTLOOK_ANDROID, "Sure", "old", "Get Outlook for Android"),
    (SIG_DASHES, "See the wiki page.", "", "Somchai Jaidee"),
    (BOTTOM_POST, "The 2026 driver from the vendor site.", "Which printer driver?", ""),
]


@pytest.mark.parametrize(("text", "new", "quoted_part", "sig_part"), CASES)
def test_reply_shapes(text: str, new: str, quoted_part: str, sig_part: str) -> None:
    reply = split_reply(text)
    assert reply.new == new
    assert quoted_part in reply.quoted
    assert sig_part in reply.signature
    if quoted_part:
        assert quoted_part not in reply.new


def test_interleaved_answers_are_kept_and_questions_removed() -> None:
    reply = split_reply(INTERLEAVED)
    assert "Answer one." in reply.new and "Answer two." in reply.new
    assert "Question" not in reply.new
    assert "Dao wrote:" in reply.quoted


def test_crlf_and_cr_line_endings() -> None:
    assert split_reply(GMAIL_THAI.replace("\n", "\r\n")).new == "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ"
    assert split_reply(GMAIL_THAI.replace("\n", "\r")).new == "ลองรีสตาร์ทเครื่องพิมพ์ดูครับ"


def test_signature_only_mail_keeps_its_text() -> None:
    reply = split_reply("ส่งจาก iPhone ของฉัน")
    assert reply.new == "ส่งจาก iPhone ของฉัน"


def test_quote_only_mail_has_empty_new_text() -> None:
    reply = split_reply("> only the old text\n> nothing new\n")
    assert reply.new == "" and "only the old text" in reply.quoted


def test_prose_with_wrote_is_not_a_quote() -> None:
    text = "Somchai wrote: the report is ready.\nThe customer wrote:\nplease call back"
    assert split_reply(text).new == text


def test_first_lines_for_commands() -> None:
    text = "\n\n  subscribe digest  \n\nhelp\n\nmore\n\n" + GMAIL_THAI.split("\n\n", 1)[1]
    assert first_lines(text, 2) == ["subscribe digest", "help"]
    assert first_lines(GMAIL_THAI, 5) == ["ลองรีสตาร์ทเครื่องพิมพ์ดูครับ"]


ATTRIBUTION = re.compile(r"^(On\s.*wrote:|เมื่อ.*เขียนว่า:|-+\s*Original Message\s*-+)\s*$", re.I)
# Sets whose samples have an obvious new part above or around quoted material (the others hold
# forwarded mails, foreign-language headers or pathological inputs with no clear answer).
OBVIOUS = ("email-reply-parser-zapier", "EmailReplyParser-php", "crisp-email-reply-parser", "email_reply_trimmer")


@pytest.mark.parametrize("path", [p for p in reply_bodies() if p.parent.name in OBVIOUS and p.suffix == ".txt"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_reply_bodies(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", "replace")
    reply = split_reply(text)
    for line in reply.new.split("\n"):
        assert not line.lstrip().startswith(">"), line
        assert not ATTRIBUTION.match(line.strip()), line
    has_unquoted = any(ln.strip() and not ln.lstrip().startswith(">") for ln in text.splitlines())
    if has_unquoted:
        assert reply.new.strip(), "mail with unquoted content must keep a new part"


def test_lines_that_cannot_be_attributions_are_skipped_without_changing_any_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shortcut that skips the attribution patterns for most lines must never change where a
    reply is split: over every message of the corpus, the split is the one the patterns give."""
    from mailbot.mail import quotes
    from mailbot.mail.parse import parse_message
    from tests.corpus_files import iter_corpus_raw

    texts = [parse_message(raw).text for _, raw in iter_corpus_raw()]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in reply_bodies()]
    fast = [quotes.split_reply(t) for t in texts]
    monkeypatch.setattr(quotes, "_may_be_attribution", lambda first, max_lines: True)
    slow = [quotes.split_reply(t) for t in texts]
    assert fast == slow
    assert sum(1 for r in slow if r.quoted) > 20  # the corpus has quoted replies to split
