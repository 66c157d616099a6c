"""Synthetic member mail for the benchmarks: ~5 KB, Thai and English, some HTML, a few attachments.

Deterministic (seeded) so every run and every machine parses the same bytes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

THAI = (
    "ไวไฟชั้น 5 หลุดบ่อยมากช่วงบ่าย ใครมีวิธีแก้บ้างครับ",
    "เครื่องปริ้นเตอร์ห้องประชุมใหญ่พิมพ์ไม่ออก ต้องรีสตาร์ทเซิร์ฟเวอร์หรือเปล่า",
    "การจัดการความรู้ในองค์กรต้องเริ่มจากการแบ่งปันประสบการณ์ของทีมงาน",
    "ขอบคุณทุกท่านที่ช่วยตอบ ตอนนี้ใช้งานได้ปกติแล้วค่ะ",
    "ระบบอีเมลของหน่วยงานเปลี่ยนรหัสผ่านทุกสามเดือน อย่าลืมอัปเดตในโทรศัพท์ด้วย",
    "สรุปบทเรียนจากโครงการปีที่แล้ว เราพบว่าการประชุมสั้นๆ ทุกสัปดาห์ช่วยได้มาก",
    "มีใครเคยติดตั้งไดรเวอร์สแกนเนอร์บนเครื่องโน้ตบุ๊กรุ่นใหม่ไหมคะ",
    "แนะนำให้บันทึกขั้นตอนการแก้ปัญหาไว้ในคลังความรู้ เพื่อให้คนอื่นค้นหาได้",
)
ENGLISH = (
    "The VPN drops every afternoon on the fifth floor; has anyone found a fix?",
    "Please remember to update your password on your phone after the quarterly change.",
    "Lessons learned: short weekly stand-ups helped the team share what they know.",
    "The shared drive is read-only again since the migration last night.",
    "Thanks everyone, restarting the print server solved it for our section.",
    "Could someone explain how to file an answer into the knowledge base?",
    "Our after-action review template is attached; comments welcome before Friday.",
    "Scanner drivers for the new laptops are on the intranet download page.",
)
SUBJECTS = (
    "ไวไฟชั้น 5 หลุด", "ปริ้นเตอร์ห้องประชุม", "บทเรียนโครงการ", "รหัสผ่านอีเมล",
    "VPN drops", "Shared drive read-only", "After-action review", "Scanner drivers",
)  # fmt: skip
DATE = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)


def _body(rng: random.Random, thai: bool, size: int) -> str:
    pool = THAI if thai else ENGLISH
    parts: list[str] = []
    total = 0
    while total < size:
        para = " ".join(rng.choice(pool) for _ in range(rng.randint(2, 5)))
        parts.append(para)
        # Thai is 3 bytes per character in UTF-8: count encoded bytes, not characters.
        total += len(para.encode("utf-8")) + 2
    return "\n\n".join(parts)


def message(i: int, sender: str, to: str, *, size: int = 2900, seed: int = 0) -> bytes:
    """Member mail number `i`: every 5th HTML, every 25th with an attachment, ~55% Thai; CRLF line
    ends, as mail travels over SMTP, LMTP and IMAP (smtplib sends bytes as given)."""
    rng = random.Random(seed * 1_000_003 + i)
    thai = rng.random() < 0.55
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"{rng.choice(SUBJECTS)} ({i})"
    msg["Date"] = format_datetime(DATE)
    msg["Message-ID"] = make_msgid(f"b{seed}.{i}", domain="bench.example.org")
    msg["X-Mailer"] = rng.choice(("Microsoft Outlook 16.0", "Apple Mail (2.3731)", "Gmail"))
    attach = i % 25 == 24
    text = _body(rng, thai, size - (1500 if attach else 0))
    msg.set_content(text)
    if i % 5 == 4:
        html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    if attach:
        blob = rng.randbytes(1100)
        msg.add_attachment(blob, maintype="application", subtype="pdf", filename="รายงาน.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def messages(count: int, senders: list[str], to: str, *, seed: int = 0) -> list[bytes]:
    return [message(i, senders[i % len(senders)], to, seed=seed) for i in range(count)]
