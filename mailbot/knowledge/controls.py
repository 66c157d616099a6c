"""`#solved` / `#แก้ได้แล้ว` / `#accept N` / `#kb` / `#kb edit`, read only from the first new lines of a reply."""

from __future__ import annotations

import re
from dataclasses import dataclass

CONTROL_LINES = 3  # only the first non-empty lines of the new text count (never quotes or signatures)
ACCEPT_ROLES = frozenset({"facilitator", "scribe", "admin"})  # plus the asker
KB_ROLES = frozenset({"facilitator", "scribe", "admin"})

_SOLVED = re.compile(r"^#(?:solved|แก้ได้แล้ว|แก้ไขได้แล้ว|หายแล้ว)(?=\W|$)", re.I)
_ACCEPT = re.compile(r"^#(?:accept|ยอมรับ)\s*((?:\d+[\s,]*)+)", re.I)
_KB_EDIT = re.compile(r"^#kb\s+(?:edit|แก้ไข)(?=\W|$)", re.I)
_KB = re.compile(r"^#kb(?=\W|$)", re.I)
_FIELD = re.compile(r"^\s*(title|หัวเรื่อง|ชื่อเรื่อง|topic|หัวข้อ|question|คำถาม)\s*[:：]\s*(.*)$", re.I)
_FIELD_NAMES = {"title": "title", "หัวเรื่อง": "title", "ชื่อเรื่อง": "title", "topic": "topic",
                "หัวข้อ": "topic", "question": "question", "คำถาม": "question"}  # fmt: skip


@dataclass(frozen=True)
class Control:
    action: str  # solved | accept | kb | kb-edit
    numbers: tuple[int, ...] = ()  # #accept N [M ...]: N accepted, the others marked helpful
    edit: dict[str, str] | None = None  # #kb edit: title/topic/question/answer replacements


def parse_control(new_text: str) -> Control | None:
    lines = new_text.replace("\r\n", "\n").split("\n")
    seen = 0
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        seen += 1
        if seen > CONTROL_LINES:
            break
        if _KB_EDIT.match(line):
            return Control("kb-edit", edit=_edit_fields(lines[i + 1 :]))
        if _KB.match(line):
            return Control("kb")
        m = _ACCEPT.match(line)
        if m:
            numbers = tuple(int(n) for n in re.findall(r"\d+", m.group(1)))
            return Control("accept", numbers=numbers)
        if _SOLVED.match(line):
            return Control("solved")
    return None


def _edit_fields(lines: list[str]) -> dict[str, str]:
    """'title: ...' / 'topic: ...' lines, then the rest of the text is the new answer."""
    fields: dict[str, str] = {}
    body: list[str] = []
    for line in lines:
        m = _FIELD.match(line) if not body else None
        if m:
            fields[_FIELD_NAMES[m.group(1).lower()]] = m.group(2).strip()
            continue
        if line.strip() or body:
            body.append(line)
    answer = "\n".join(body).strip()
    if answer:
        fields["answer"] = answer
    return fields
