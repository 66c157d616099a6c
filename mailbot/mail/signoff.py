"""A reply's closing sign-off ("ขอบคุณค่ะ / สุดา", "Thanks, Suda"), found by the sender's own names.

Threads and knowledge entries keep what was said, not who signed it: the author is stored beside
the text. Only the last lines go, only when they name the sender, and never all of the text.
"""

from __future__ import annotations

import re

# Closings written above (or before) the name; a polite particle may follow the Thai ones.
_CLOSING = re.compile(
    r"^(?:ขอบคุณ(?:มาก)?|ขอบพระคุณ|ด้วยความเคารพ|ขอแสดงความนับถือ|thanks|thank you|many thanks|regards|"
    r"best regards|kind regards|best wishes|best|cheers)"
    r"(?:\s*(?:ครับ|ค่ะ|คะ|ค่า|นะครับ|นะคะ|จ้า|จ้ะ))?(?=[\s,.!]|$)[\s,.!]*",
    re.IGNORECASE,
)
_HONORIFIC = {"คุณ", "นาย", "นาง", "นางสาว", "น.ส", "mr", "ms", "mrs", "dr"}
_PUNCT = "\"'()[]<>.,;:!-–—~*_/|"
MAX_WORDS = 4  # a name line is short: "คุณสุดา รักเรียน"
MAX_CHARS = 80


def _tokens(text: str) -> list[str]:
    return [w for w in (t.strip(_PUNCT).casefold() for t in text.split()) if w]


def _name_tokens(names: tuple[str, ...]) -> set[str]:
    out = set()
    for name in names:
        for token in _tokens(name):
            if "@" not in token and token not in _HONORIFIC and len(token) >= 2:
                out.add(token)
    return out


def _is_name_line(line: str, names: set[str]) -> bool:
    """Every word of the line is one of the sender's names ("สุดา", "คุณสุดา รักเรียน", "Suda R")."""
    words = [w.removeprefix("คุณ") for w in _tokens(line) if w not in _HONORIFIC]
    words = [w for w in words if len(w) >= 2]  # an initial: "Suda R."
    return bool(words) and len(words) <= MAX_WORDS and len(line) <= MAX_CHARS and all(w in names for w in words)


def without_sign_off(text: str, *names: str) -> str:
    """`text` without a closing line naming the sender (and the closing just above it, if any)."""
    tokens = _name_tokens(names)
    if not tokens or not text:
        return text
    lines = text.rstrip().split("\n")
    last = lines[-1].strip()
    closing = _CLOSING.match(last)
    rest = last[closing.end() :] if closing else last  # "ขอบคุณค่ะ สุดา", "Thanks, Suda"
    if not _is_name_line(rest, tokens):
        return text
    kept = lines[:-1]
    while kept and not kept[-1].strip():
        kept.pop()
    if kept and not closing:
        above = kept[-1].strip()
        match = _CLOSING.match(above)
        if match and match.end() == len(above):  # a closing on its own line above the name
            kept.pop()
    body = "\n".join(kept).rstrip()
    return body if body.strip() else text
