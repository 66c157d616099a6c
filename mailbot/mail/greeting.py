"""A message's opening salutation ("Hi all,", "สวัสดีครับ ทุกท่าน", "เรียน พี่ ๆ ทุกคน"), found so
that threads, knowledge entries and tips keep what was said; the group's copy stays whole.

Only a first line that is nothing but a greeting goes, and never when nothing follows it."""

from __future__ import annotations

import re

_PUNCT = "\"'()[]<>.,;:!-–—~*_/|"
MAX_CHARS = 60  # "เรียน ผู้บริหารและสมาชิกชุมชนนักปฏิบัติ KM-IT ทุกท่าน" fits; a paragraph does not
MAX_NAME_CHARS = 18

_EN_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day))(?![a-z])(?P<rest>.*)$",
    re.IGNORECASE,
)
_EN_AUDIENCE = {
    "all", "everyone", "everybody", "team", "folks", "guys", "colleagues", "friends", "there", "members",
    "of", "to", "you", "and", "the", "dear", "ladies", "gentlemen", "sir", "madam", "community",
}  # fmt: skip

# "เรียน" is also "to study" (เรียนรู้, เรียนภาษา): as a greeting it is followed by its audience.
_TH_GREETING = re.compile(
    r"^(?:สวัสดี|เรียน(?=\s|ทุก|สมาชิก|พี่|น้อง|คุณ|ท่าน|ผู้|เพื่อน|อาจารย์|หัวหน้า|ชาว|คณะ|ทีม))(?P<rest>.*)$"
)
_TH_PARTICLES = r"ครับผม|ครับ|ค่ะ|คะ|ค่า|จ้า|จ้ะ|นะครับ|นะคะ|ขอรับ"
_TH_AUDIENCE = (
    r"ทุกท่าน|ทุกคน|ทุกๆท่าน|ทุกๆคน|ทุกๆ|ท่านสมาชิก|สมาชิก|ทุกฝ่าย|ท่าน|พี่ๆ|น้องๆ|เพื่อนๆ|ชาว|ทีม|"
    r"ตอนเช้า|ตอนบ่าย|ตอนเย็น|และ|ผู้บริหาร|คณะ|ชุมชน|นักปฏิบัติ|หัวหน้า|อาจารย์"
)
_TH_PLAIN_TOKEN = re.compile(rf"^(?:{_TH_PARTICLES}|{_TH_AUDIENCE})+$")
# A person greeted by name: "คุณสุดา", "พี่แดง", "อาจารย์สมชาย" (a particle may follow: "คุณสุดาครับ").
_TH_NAME_TOKEN = re.compile(rf"^(?:{_TH_PARTICLES}|{_TH_AUDIENCE})*(?:คุณ|พี่|น้อง|อาจารย์)[^\s{re.escape(_PUNCT)}]+$")


def _tokens(rest: str) -> list[str]:
    rest = re.sub(r"\s*ๆ", "ๆ", rest)  # "พี่ ๆ" is one word
    return [w for w in (t.strip(_PUNCT) for t in rest.split()) if w]


def _is_english_greeting(line: str) -> bool:
    m = _EN_GREETING.match(line)
    if m is None:
        return False
    words = _tokens(m.group("rest"))
    if len(words) > 5:
        return False
    # The audience, or a name ("Hi Suda", "Dear Mr. Lee", "Hello KM-IT"): capitalised words.
    return all(w.casefold() in _EN_AUDIENCE or w[:1].isupper() for w in words)


def _is_thai_greeting(line: str) -> bool:
    m = _TH_GREETING.match(line)
    if m is None:
        return False
    words = _tokens(m.group("rest"))
    names = 0
    for i, w in enumerate(words):
        if _TH_PLAIN_TOKEN.match(w) or w.isascii() and i > 0 and _TH_PLAIN_TOKEN.match(words[i - 1]):
            continue  # "สมาชิก KM-IT": an ASCII name of the audience after an audience word
        if _TH_NAME_TOKEN.match(w) and len(w) <= MAX_NAME_CHARS:
            names += 1
            continue
        # A surname after a greeted name: "คุณสุดา รักเรียน", and nothing but particles after it.
        after_name = names and _TH_NAME_TOKEN.match(words[i - 1])
        if after_name and len(w) <= MAX_NAME_CHARS and all(_TH_PLAIN_TOKEN.match(x) for x in words[i + 1 :]):
            continue
        return False
    return names <= 2


def is_greeting(line: str) -> bool:
    line = line.strip()
    if not line or len(line) > MAX_CHARS or "?" in line:
        return False
    return _is_english_greeting(line) or _is_thai_greeting(line)


def without_greeting(text: str) -> str:
    """`text` without a first line that only greets ("Hi all,", "สวัสดีครับ คุณสุดา"), when more follows."""
    if not text:
        return text
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not is_greeting(lines[first]):
        return text
    rest = lines[first + 1 :]
    while rest and not rest[0].strip():
        rest.pop(0)
    body = "\n".join(rest)
    return body if body.strip() else text
