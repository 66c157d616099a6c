"""The asker's own follow-up in their thread: does it say the problem is solved ("ได้แล้วค่ะ
ขอบคุณมาก", "that fixed it, thanks") rather than still open or yet to be tried? Askers rarely type
#solved; a follow-up that reads as solved earns them a private, one-reply way to file the answer."""

from __future__ import annotations

import re

# Still open, not tried yet, or a further question: these win over any thanks in the same text
# ("ขอบคุณค่ะ แต่ยังไม่ได้", "thanks, I'll try it tomorrow").
_OPEN_THAI = re.compile(
    r"ยังไม่|ไม่ได้ผล|ไม่หาย|ไม่สำเร็จ|ยังเป็นอยู่|ยังเหมือนเดิม|ยังมีปัญหา|ยังเจอ|ยังขึ้น|ยังค้าง|"
    r"ใช้ไม่ได้|ทำไม่ได้|เข้าไม่ได้|ไม่ได้เลย|แล้วไม่ได้|"
    r"เดี๋ยว(?:จะ)?ลอง|จะลอง|ขอลอง|ลองดูก่อน|ไว้ลอง|พรุ่งนี้"
)
_OPEN_ENGLISH = re.compile(
    r"\b(?:still|not working|doesn'?t work|didn'?t work|does not work|did not work|no luck|"
    r"same (?:error|problem|issue)|no change|won'?t|can'?t|cannot|unfortunately|"
    r"will try|i'?ll try|i will try|going to try|let you know|tomorrow)\b",
    re.IGNORECASE,
)
# It works now, or plain thanks for the help.
_SOLVED_THAI = re.compile(
    r"ได้แล้ว|หายแล้ว|เรียบร้อย|สำเร็จ|ได้ผล|ใช้ได้|โอเคแล้ว|ok แล้ว|ขอบคุณ|ขอบใจ"
)
_SOLVED_ENGLISH = re.compile(
    r"\b(?:thanks|thank you|thx|worked|works now|working now|works fine|fixed|solved|resolved|sorted|"
    r"that did it|did the trick|problem gone)\b",
    re.IGNORECASE,
)


def says_solved(text: str) -> bool:
    """Whether the asker's new text (quotes and signature already off) reads as "solved, thanks"."""
    flat = " ".join(text.split())
    if not flat or "?" in flat:  # a further question keeps the thread open
        return False
    if _OPEN_THAI.search(flat) or _OPEN_ENGLISH.search(flat):
        return False
    return bool(_SOLVED_THAI.search(flat) or _SOLVED_ENGLISH.search(flat))
