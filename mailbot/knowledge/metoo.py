"""A reply that only says "me too" ("ผมก็เป็นเหมือนกันครับ", "same here", "+1"): a member with the
same problem, not an answer. The question stays unanswered, so it is still nudged and shown as
needing help; the group's copy goes out as usual."""

from __future__ import annotations

import re

MAX_CHARS = 80  # a "me too" is one short line; anything longer says more than that

_PARTICLES = re.compile(r"(?:\s*(?:ครับผม|ครับ|ค่ะ|คะ|ค่า|นะครับ|นะคะ|จ้า|จ้ะ|นะ|เลย|ด้วย|คน|ๆ))+$")
_TRAILING = re.compile(r"[\s.!:;,)(^_~\-–—😅🙏👍]+$")
_ENGLISH = re.compile(
    r"^(?:\+1|me too|me also|same here|same|same for me|same problem(?: here)?|same issue(?: here)?|"
    r"i have the same (?:problem|issue)(?: here)?|i'?m having the same (?:problem|issue)|"
    r"(?:i'?m )?following(?: this)?|any updates?|any news)$",
    re.IGNORECASE,
)
# "ผมก็เป็น(เหมือนกัน)", "เจอเหมือนกัน", "ทางนี้ก็โดน", "ด้วยคน", "รอคำตอบ", "ติดตาม": the
# particles, "เลย", "ด้วย" and "คน" are taken off the end first.
_THAI = re.compile(
    r"^(?:\+1|"
    r"(?:(?:ผม|ฉัน|หนู|เรา|ดิฉัน|พี่|น้อง|กระผม|ทางนี้|ทางเรา|ที่นี่|ของผม|ของฉัน|ของเรา)\s*)?(?:ก็)?\s*"
    r"(?:เป็น|เจอ|โดน|มีปัญหา|มีอาการ|ติด)(?:\s*(?:แบบนี้|อาการนี้|อาการเดียวกัน|ปัญหานี้|ปัญหาเดียวกัน))?"
    r"(?:\s*(?:เหมือนกัน|อยู่))?|"
    r"เหมือนกัน|รอคำตอบ|ติดตาม|ขอติดตาม|รอด้วย|อยากรู้เหมือนกัน|อยากทราบเหมือนกัน)$"
)


def is_me_too(text: str) -> bool:
    """Whether `text` (the new text, greeting and sign-off already left out) only says "me too"."""
    flat = " ".join(text.split())
    if not flat or len(flat) > MAX_CHARS:
        return False
    core = _TRAILING.sub("", flat)
    if _ENGLISH.match(core):
        return True
    thai = _PARTICLES.sub("", core).strip()
    # Nothing left but particles ("ด้วยคนครับ", a bare "ครับ"): it answers nothing either.
    return not thai or _THAI.match(thai) is not None
