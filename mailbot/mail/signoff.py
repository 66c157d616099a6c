"""A reply's closing sign-off ("ขอบคุณค่ะ / สุดา", "Thanks, Suda"), found by the sender's own names.

Threads and knowledge entries keep what was said, not who signed it: the author is stored beside
the text. Only the last lines go, only when they name the sender, and never all of the text.
Also: `without_framing` (greeting and sign-off off), `is_courtesy_only` (a mail that only thanks).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailbot.mail.greeting import without_greeting

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
MAX_TITLE_LINES = 2  # "Bob Lee / IT Support / ext. 1234"
MAX_TITLE_CHARS = 40


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


def _is_closing_line(line: str) -> bool:
    match = _CLOSING.match(line.strip())
    return match is not None and match.end() == len(line.strip())


def _is_title_line(line: str) -> bool:
    """A short line under a signed name ("IT Support", "ส่วนเครือข่าย โทร 1234"), not a sentence."""
    line = line.strip()
    return 0 < len(line) <= MAX_TITLE_CHARS and not line.endswith((".", "?", "!", ":"))


def without_sign_off(text: str, *names: str) -> str:
    """`text` without a closing that names the sender: the name line (a closing may begin it or
    stand above it) and, under a closing and the name, up to two short lines (a job title)."""
    tokens = _name_tokens(names)
    if not tokens or not text:
        return text
    lines = text.rstrip().split("\n")
    for below in range(MAX_TITLE_LINES + 1):  # lines under the name: 0, 1 or 2
        at = len(lines) - 1 - below
        if at < 0 or not all(_is_title_line(x) for x in lines[at + 1 :]):
            break
        line = lines[at].strip()
        closing = _CLOSING.match(line)
        rest = line[closing.end() :] if closing else line  # "ขอบคุณค่ะ สุดา", "Thanks, Suda"
        if not _is_name_line(rest, tokens):
            continue
        kept = lines[:at]
        while kept and not kept[-1].strip():
            kept.pop()
        above = bool(kept) and not closing and _is_closing_line(kept[-1])
        if below and not (closing or above):
            return text  # lines under a bare name may be words of the answer: only a closing proves a sign-off
        if above:
            kept.pop()
        body = "\n".join(kept).rstrip()
        return body if body.strip() else text
    return text


def without_framing(text: str, *names: str) -> str:
    """What a thread, an entry or a tip keeps of a member's mail: the text without its opening
    greeting ("Hi all,") or the sign-off that names the sender (`names`); the group's copy stays whole."""
    return without_greeting(without_sign_off(text, *names))


# A thank-you as a whole line: "ขอบคุณมากค่ะ", "Thanks a lot!", "Thank you very much :)".
_THANKS_LINE = re.compile(
    r"^(?:ขอบคุณ|ขอบพระคุณ|thanks|thank you|many thanks|cheers|ok|okay|โอเค)"
    r"(?:\s*(?:มาก|มากๆ|มาก ๆ|สุดๆ|very much|so much|a lot|again|นะ))?"
    r"(?:\s*(?:ครับ|ค่ะ|คะ|ค่า|นะครับ|นะคะ|จ้า|จ้ะ|ครับผม))?[\s,.!:;)(^_-]*$",
    re.IGNORECASE,
)


def _looks_like_a_name(word: str) -> bool:
    """Thai letters, or one capitalised Latin word ("อ้อย", "Bob"): how a nickname signs."""
    if all("\u0e00" <= c <= "\u0e7f" for c in word):
        return True
    return word.isalpha() and word.isascii() and word[0].isupper() and word[1:].islower()


def is_courtesy_only(text: str, *names: str) -> bool:
    """Whether `text` says only thank you (and who signs it): a reply to the bot that asks nothing."""
    tokens = _name_tokens(names)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    # Under a thank-you, one short word is a signature even in a name the member list lacks
    # ("ขอบคุณค่ะ / อ้อย" from "Suda Rakrian"); "please remove me" is a request, answered.
    last = lines[-1].strip(_PUNCT)
    if len(lines) >= 2 and 0 < len(last) <= 15 and " " not in last and _looks_like_a_name(last):
        lines = lines[:-1]

    def courteous(line: str) -> bool:
        return bool(_THANKS_LINE.match(line) or _is_closing_line(line) or (tokens and _is_name_line(line, tokens)))

    return all(courteous(line) for line in lines)


def without_nickname(text: str, is_command: Callable[[str], bool]) -> str:
    """`text` without a last paragraph of one short name-like word ("มะลิ", "Bob"): how people sign
    mail to the bot, members or not yet, in a name the member list may lack. A command word stays."""
    lines = text.rstrip().split("\n")
    last = lines[-1].strip()
    word = last.strip(_PUNCT)
    if len(lines) < 3 or lines[-2].strip() or not any(x.strip() for x in lines[:-2]):
        return text  # only a paragraph of its own, under something, signs
    if not (0 < len(word) <= 15 and " " not in word and _looks_like_a_name(word)) or is_command(last):
        return text
    return "\n".join(lines[:-1]).rstrip()
