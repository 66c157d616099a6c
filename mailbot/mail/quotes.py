"""Split a reply's new text from the quoted message and the signature (Thai and English mail clients).

Line-based and linear-time; email-reply-parser's own header patterns are reused alongside ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_reply_parser import EmailMessage


@dataclass(frozen=True)
class Reply:
    new: str
    quoted: str
    signature: str


_QUOTED = re.compile(r"^[ \t]*>")
# Attribution lines. Gmail wraps long ones, so a line may be joined with the next one or two.
_ATTRIBUTION = [
    re.compile(r"^\s*(On|Le|Am|El|Il|Op|Em|W dniu|Den)\s.{4,}?(wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu|napisał|skrev)\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*เมื่อ.{4,}?เขียน(ว่า)?\s*:?\s*$", re.S),
    re.compile(r"^\s*\S.{0,200}(wrote|เขียนว่า)\s*:\s*$", re.I | re.S),  # "Somchai wrote:", Mozilla style
    EmailMessage.QUOTE_HDR_REGEX,
]
_ATTRIBUTION_START = re.compile(r"^(On|Le|Am|El|Il|Op|Em|W dniu|Den)\s|^เมื่อ", re.I)
_SEPARATOR = re.compile(
    r"^\s*[-_=*\s]*(original message|ข้อความต้นฉบับ|ข้อความเดิม|forwarded message|ข้อความที่ส่งต่อ)[-_=*\s]*$",
    re.I,
)
_RULE = re.compile(r"^\s*([_-]{10,}|-{5,}\s*$)")
# Outlook reply header keys, English and Thai (Outlook Thai: จาก / ส่ง / ส่งเมื่อ / ถึง / เรื่อง).
_HEADER_FROM = re.compile(r"^\s*\*?(From|จาก|De|Von|Van|Da)\s*\*?\s*:", re.I)
_HEADER_KEY = re.compile(
    r"^\s*\*?(From|Sent|Date|To|Cc|Subject|จาก|ส่ง|ส่งเมื่อ|วันที่|ถึง|สำเนาถึง|เรื่อง|Envoyé|Gesendet|Enviado|Betreff|Objet|Asunto|An|À)\s*\*?\s*:",
    re.I,
)
_SIG_DASHES = re.compile(r"^(-- ?|—)$")
_MOBILE_SIG = re.compile(
    r"^\s*(Sent from (my )?\S.{0,50}|Get Outlook for \S.{0,30}|Sent with \S.{0,40}"
    r"|ส่งจาก\s*\S.{0,50}|ส่งจาก iPhone ของฉัน|ส่งจาก myMail สำหรับ Android)\s*$",
    re.I,
)


def _is_attribution(lines: list[str], i: int) -> int:
    """Number of lines (1-3) forming an attribution starting at line i, or 0."""
    first = lines[i].strip()
    if not first or len(first) > 400 or _QUOTED.match(lines[i]):
        return 0
    joined = first
    # Only a line that starts like an attribution may continue on the next lines (Gmail wraps).
    max_lines = 3 if _ATTRIBUTION_START.match(first) else 1
    if not _may_be_attribution(first, max_lines):
        return 0
    for n in range(1, max_lines + 1):
        if n > 1:
            if i + n - 1 >= len(lines):
                break
            nxt = lines[i + n - 1].strip()
            if not nxt or _QUOTED.match(lines[i + n - 1]):
                break
            joined = f"{joined} {nxt}"
        if any(p.match(joined) for p in _ATTRIBUTION):
            # The generic "X wrote:" shape only counts when a quote follows, to spare prose.
            if _ATTRIBUTION[2].match(joined) and not _ATTRIBUTION[0].match(joined) and not _ATTRIBUTION[1].match(joined):
                return n if _quote_follows(lines, i + n) else 0
            return n
    return 0


def _may_be_attribution(first: str, max_lines: int) -> bool:
    """False when no attribution pattern can match: a one-line attribution always ends in a colon
    (only the Thai "เมื่อ..." one may omit it, and it may run over three lines). Most lines of a
    message stop here instead of trying four patterns."""
    return max_lines > 1 or first.endswith(":")


def _quote_follows(lines: list[str], j: int) -> bool:
    while j < len(lines) and not lines[j].strip():
        j += 1
    return j < len(lines) and bool(_QUOTED.match(lines[j]))


def _is_outlook_block(lines: list[str], i: int) -> bool:
    """An Outlook-style quoted header: a separator, or From: followed by Sent:/To:/Subject: lines."""
    line = lines[i]
    if _SEPARATOR.match(line):
        return True
    if _RULE.match(line):
        return any(_HEADER_FROM.match(lines[j]) for j in range(i + 1, min(i + 4, len(lines))))
    if not _HEADER_FROM.match(line):
        return False
    keys = sum(1 for j in range(i + 1, min(i + 6, len(lines))) if _HEADER_KEY.match(lines[j]))
    return keys >= 2


def _join(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n").rstrip()


def split_reply(text: str) -> Reply:
    """Split `text` into the sender's new words, the quoted earlier message(s) and the signature."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    kind = ["new"] * len(lines)  # new | quoted | sig
    last_quoted = max((k for k, ln in enumerate(lines) if _QUOTED.match(ln)), default=-1)

    i = 0
    while i < len(lines):
        line = lines[i]
        if _QUOTED.match(line):
            kind[i] = "quoted"
            i += 1
            continue
        if _is_outlook_block(lines, i):
            # Outlook quotes the whole earlier message below its header block, unprefixed.
            for j in range(i, len(lines)):
                kind[j] = "quoted"
            break
        n = _is_attribution(lines, i)
        if n:
            for j in range(i, i + n):
                kind[j] = "quoted"
            if last_quoted < i + n and any(k == "new" and lines[j].strip() for j, k in enumerate(kind[:i])):
                # Attribution with an unprefixed quote below (HTML-derived text, some phones).
                for j in range(i + n, len(lines)):
                    kind[j] = "quoted"
                break
            i += n
            continue
        i += 1

    # Signature: from a marker line to the next quoted line (top posting) or the end.
    for i, line in enumerate(lines):
        if kind[i] != "new":
            continue
        if _SIG_DASHES.match(line.rstrip("\n")) or _MOBILE_SIG.match(line):
            j = i
            while j < len(lines) and kind[j] == "new":
                kind[j] = "sig"
                j += 1
            break

    new = _join([ln for ln, k in zip(lines, kind, strict=True) if k == "new"])
    quoted = _join([ln for ln, k in zip(lines, kind, strict=True) if k == "quoted"])
    signature = _join([ln for ln, k in zip(lines, kind, strict=True) if k == "sig"])
    new = re.sub(r"\n{3,}", "\n\n", new).strip()
    if not new:
        # Never lose the sender's words: a mail that is only a signature ("Sent from my iPhone")
        # keeps it as the new part; a quote plus a list footer has no new words.
        if signature and not quoted:
            return Reply(new=signature.strip(), quoted="", signature="")
        # Only an Outlook block (a forward with no comment): its unprefixed body is the content.
        rest = [ln for ln in lines if ln.strip() and not _QUOTED.match(ln) and not _HEADER_KEY.match(ln)
                and not _SEPARATOR.match(ln) and not _RULE.match(ln)]
        if rest and not any(_is_attribution(lines, i) for i in range(min(len(lines), 3))):
            return Reply(new=_join(rest), quoted=quoted, signature="")
    return Reply(new=new, quoted=quoted, signature=signature)


def first_lines(text: str, n: int) -> list[str]:
    """The first n non-empty, stripped lines of the new text (command parsing reads these)."""
    out: list[str] = []
    for line in split_reply(text).new.split("\n"):
        stripped = line.strip()
        if stripped:
            out.append(stripped)
            if len(out) >= n:
                break
    return out
