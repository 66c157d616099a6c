"""The tip library: Markdown files with a small front matter, imported, listed, added, disabled, picked.

Front matter is a `---` fenced block of `key: value` lines (title, topic, source or author); we read it
ourselves rather than pulling in a YAML parser for three keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.jobs.models import Tip

STATUSES = ("active", "pending", "disabled", "rejected")
_KEY_RE = re.compile(r"[^a-z0-9ก-๙]+")
_LIST_RE = re.compile(r"^\s*(?:[-*+]|(\d+)[.)])\s+(.*)$")
_INLINE_RE = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|`([^`]+)`")


class TipError(ValueError):
    """A tip file or command is unusable; the message says which and why."""


@dataclass(frozen=True)
class TipDraft:
    key: str
    title: str
    topic: str
    source: str
    body: str


def slug_key(text: str) -> str:
    return _KEY_RE.sub("-", text.lower()).strip("-")[:200] or "tip"


def parse_tip(text: str, key: str) -> TipDraft:
    """Read front matter + Markdown body; a missing title falls back to the first heading."""
    meta: dict[str, str] = {}
    body = text.lstrip("\ufeff")
    if body.startswith("---"):
        head, sep, rest = body[3:].partition("\n---")
        if not sep:
            raise TipError(f"{key}: front matter starts with '---' but never ends")
        for line in head.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise TipError(f"{key}: front matter line {line.strip()!r} is not 'key: value'")
            meta[name.strip().lower()] = value.strip().strip("\"'")
        body = rest.partition("\n")[2]
    body = body.strip()
    title = meta.get("title", "")
    if not title and body.startswith("#"):
        first, _, body = body.partition("\n")
        title, body = first.lstrip("#").strip(), body.strip()
    if not title:
        raise TipError(f"{key}: no title (front matter 'title:' or a '# heading')")
    if not body:
        raise TipError(f"{key}: empty tip")
    source = meta.get("source") or meta.get("author", "")
    return TipDraft(key=slug_key(key), title=title, topic=meta.get("topic", "").lower(), source=source, body=body)


def plain_inline(text: str) -> str:
    """Drop the few inline Markdown marks we allow (bold, code) for plain text and HTML alike."""
    return _INLINE_RE.sub(lambda m: next(g for g in m.groups() if g is not None), text)


def blocks(markdown: str) -> list[dict[str, Any]]:
    """Paragraphs, bullet and numbered lists, headings: enough structure for a tip's HTML part."""
    out: list[dict[str, Any]] = []
    for chunk in re.split(r"\n\s*\n", markdown.strip()):
        lines = [line.rstrip() for line in chunk.splitlines() if line.strip()]
        if not lines:
            continue
        if all(_LIST_RE.match(line) for line in lines):
            first = _LIST_RE.match(lines[0])
            ordered = bool(first and first.group(1))
            items = [plain_inline(m.group(2)) for line in lines if (m := _LIST_RE.match(line))]
            out.append({"kind": "ol" if ordered else "ul", "items": items, "text": ""})
        elif len(lines) == 1 and lines[0].startswith("#"):
            out.append({"kind": "h", "items": [], "text": plain_inline(lines[0].lstrip("#").strip())})
        else:
            out.append({"kind": "p", "items": [], "text": plain_inline(" ".join(s.strip() for s in lines))})
    return out


def tip_files(directory: Path) -> list[Path]:
    """The tip files of a folder: *.md except README.md and _drafts."""
    return [p for p in sorted(directory.glob("*.md")) if not p.name.upper().startswith("README") and
            not p.name.startswith("_")]  # fmt: skip


def read_dir(directory: Path) -> Iterator[TipDraft | TipError]:
    for path in tip_files(directory):
        try:
            yield parse_tip(path.read_text(encoding="utf-8"), path.stem)
        except (TipError, UnicodeDecodeError) as exc:
            yield TipError(f"{path.name}: {exc}")


def upsert(session: Session, community_id: int, draft: TipDraft, now: datetime, *, status: str = "active",
           submitted_by: str = "") -> tuple[Tip, bool]:  # fmt: skip
    """Add the tip, or update the text of the one with the same key (send counts are kept)."""
    tip = session.scalar(select(Tip).where(Tip.community_id == community_id, Tip.key == draft.key))
    if tip is not None:
        tip.title, tip.topic, tip.source, tip.body = draft.title, draft.topic, draft.source, draft.body
        return tip, False
    tip = Tip(
        community_id=community_id,
        key=draft.key,
        title=draft.title,
        topic=draft.topic,
        source=draft.source,
        body=draft.body,
        status=status,
        submitted_by=submitted_by,
        times_sent=0,
        created_at=now,
    )
    session.add(tip)
    session.flush()
    return tip, True


def new_key(session: Session, community_id: int, prefix: str) -> str:
    n = session.scalar(select(func.count(Tip.id)).where(Tip.community_id == community_id)) or 0
    return f"{prefix}-{n + 1}"


def get(session: Session, community_id: int, tip_id: int) -> Tip:
    tip = session.get(Tip, tip_id)
    if tip is None or tip.community_id != community_id:
        raise TipError(f"no tip {tip_id} in this community")
    return tip


def set_status(session: Session, community_id: int, tip_id: int, status: str) -> Tip:
    if status not in STATUSES:
        raise TipError(f"unknown tip status {status!r}")
    tip = get(session, community_id, tip_id)
    tip.status = status
    return tip


def listing(session: Session, community_id: int, status: str | None = None) -> list[Tip]:
    query = select(Tip).where(Tip.community_id == community_id).order_by(Tip.id)
    if status:
        query = query.where(Tip.status == status)
    return list(session.scalars(query))


def as_dict(tip: Tip) -> dict[str, object]:
    return {
        "id": tip.id,
        "key": tip.key,
        "title": tip.title,
        "topic": tip.topic,
        "source": tip.source,
        "status": tip.status,
        "times_sent": tip.times_sent,
        "last_sent_at": tip.last_sent_at.isoformat() if tip.last_sent_at else None,
        "submitted_by": tip.submitted_by,
    }


def pick_next(session: Session, community_id: int) -> Tip | None:
    """The next tip: never a repeat before every active tip went out once; topics take turns.

    Among the least-sent tips, prefer the topic whose last tip is oldest (never-sent topics first),
    then the oldest tip.
    """
    active = listing(session, community_id, "active")
    if not active:
        return None
    fewest = min(t.times_sent for t in active)
    candidates = [t for t in active if t.times_sent == fewest]
    last_use: dict[str, datetime] = {}
    for t in active:
        if t.last_sent_at is not None and (t.topic not in last_use or t.last_sent_at > last_use[t.topic]):
            last_use[t.topic] = t.last_sent_at
    never = datetime.min.replace(tzinfo=next(iter(last_use.values())).tzinfo) if last_use else None

    def order(t: Tip) -> tuple[Any, int]:
        return (last_use.get(t.topic, never), t.id)

    return min(candidates, key=order) if never is not None else candidates[0]
