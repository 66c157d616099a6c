"""E-mail commands `search <words>` / `ค้นหา <คำ>` and `kb <N>`, answered with their own templates;
`kb <N> ok` / `kb <N> stale` let scribes and facilitators confirm an entry or mark it out of date."""

from __future__ import annotations

import re

from sqlalchemy import or_, select

from mailbot.commands.base import CommandResult
from mailbot.commands.util import lang
from mailbot.handlers.base import Context
from mailbot.knowledge import entries, search, threads
from mailbot.knowledge.models import KbEntry, Thread
from mailbot.knowledge.synonyms import synonyms_for
from mailbot.knowledge.topics import topics_for
from mailbot.moderation.roles import can

SEARCH_LIMIT = 5
# "search for wifi", "ค้นหาเรื่อง wifi": the words asked about, not the preposition.
_SEARCH_LEAD = re.compile(r"^(?:for|about)\s+|^เรื่อง\s*", re.IGNORECASE)


def cmd_search(ctx: Context, args: str) -> CommandResult:
    query = " ".join(_SEARCH_LEAD.sub("", args.strip(), count=1).split())[:200] or " ".join(args.split())[:200]
    th = lang(ctx) == "th"
    if not query or ctx.community_row is None:
        return CommandResult("error", "ค้นหา <คำ>: ใส่คำที่ต้องการค้นด้วย" if th else "search <words>: give the words to look for")
    rules_dir = str(ctx.settings.paths.resolved_rules_dir())
    topics = topics_for(rules_dir)
    hits = search.search(
        ctx.session, ctx.community_row.id, query, limit=SEARCH_LIMIT, entries_only=True, synonyms=synonyms_for(rules_dir)
    )
    results = []
    worked = entries.worked_for(ctx.session, [h.ref_id for h in hits])  # entries_only: ref_id is the entry
    for h in hits:
        topic = topics.get(h.topic)
        results.append(
            {
                "number": h.number,
                "title": h.title,
                "excerpt": h.excerpt,
                "topic": topic.label(lang(ctx)) if topic else h.topic,  # "" when none: left out
                "status": h.status,
                "worked_for": worked.get(h.ref_id, 0),
            }
        )
    summary = f"ค้นหา “{query}”: พบ {len(results)} รายการ" if th else f"search {query!r}: {len(results)} entries"
    return CommandResult("done", summary, reply_template="search-results", reply_context={"query": query, "results": results})


# `kb 12 ok` (still right: current again) and `kb 12 stale` (out of date), in Thai too.
_REVIEW_WORDS = {
    "ok": "published", "current": "published", "ใช้ได้": "published", "ยังใช้ได้": "published",
    "stale": "stale", "outdated": "stale", "ล้าสมัย": "stale", "เก่า": "stale",
}  # fmt: skip
_REVIEW_BY_LENGTH = sorted(_REVIEW_WORDS.items(), key=lambda kv: -len(kv[0]))
# `kb 12 ได้ผล` / `kb 12 worked`: any member's word that the entry worked for them. Tried before the
# review words: "ใช้ได้ผล" (it worked) begins with "ใช้ได้" (still right, a scribe's call).
_WORKED_WORDS = ("ใช้ได้ผล", "ได้ผล", "ช่วยได้", "worked", "works", "helped", "useful")


def cmd_kb(ctx: Context, args: str) -> CommandResult:
    th = lang(ctx) == "th"
    # Thai runs words together: "ความรู้12ใช้ได้" is "ความรู้ 12 ใช้ได้".
    m = re.match(r"^\s*#?(\d{1,9})(?!\d)\s*(\S*)", args)
    if not m or ctx.community_row is None:
        return CommandResult("error", "kb <หมายเลข>: เช่น kb 12" if th else "kb <number>: for example kb 12")
    number, word = int(m.group(1)), m.group(2).casefold()
    entry = entries.entry_by_number(ctx.session, ctx.community_row.id, number)
    # A draft waiting for review is shown only to those who review entries.
    if entry is None or (entry.status == "draft" and not can(ctx.member.role if ctx.member else None, "edit-knowledge")):
        return CommandResult("error", f"ไม่พบบันทึกความรู้หมายเลข {number}" if th else f"no knowledge entry {number}")
    if word and any(word.startswith(w) for w in _WORKED_WORDS):
        return _worked(ctx, entry, th)
    # A review word may carry a polite particle in Thai ("ใช้ได้ครับ"): its beginning decides.
    status = next((s for w, s in _REVIEW_BY_LENGTH if word.startswith(w)), None) if word else None
    if status is not None:
        return _review(ctx, entry, status, th)
    # Any other word after the number ("kb 12 ครับ", a polite particle) still just asks to read it.
    topics = topics_for(str(ctx.settings.paths.resolved_rules_dir()))
    view = entries.entry_view_in(ctx.session, entry, topics, lang(ctx))
    sent = f"ส่งบันทึกความรู้ {number} ให้แล้ว" if th else f"kb {number} sent"
    return CommandResult("done", sent, reply_template="kb-entry", reply_context={"entry": view})


def _worked(ctx: Context, entry: KbEntry, th: bool) -> CommandResult:
    """A member says the entry worked for them: counted once per member, shown on the entry."""
    n = entry.number
    if ctx.member is None:
        return CommandResult("refused", "เฉพาะสมาชิกเท่านั้น" if th else "only members can say an entry worked for them")
    new = entries.record_worked(ctx.session, entry, ctx.member.id, ctx.clock.now())
    count = entries.worked_for(ctx.session, [entry.id]).get(entry.id, 0)
    closed = _close_own_question(ctx)
    if th:
        said = "ขอบคุณที่บอกเรา" if new else "คุณเคยบอกไว้แล้ว"
        note = f" คำถาม {closed} ของคุณปิดแล้ว เพื่อน ๆ จะได้ไม่ต้องตอบซ้ำ" if closed else ""
        return CommandResult("done", f"kb {n}: {said} บันทึกนี้ใช้ได้ผลกับสมาชิก {count} คนแล้ว{note}")
    said = "thank you for telling us" if new else "you had told us before"
    note = f"; your question {closed} is closed, so nobody answers it again" if closed else ""
    return CommandResult(
        "done", f"kb {n}: {said}; it has worked for {count} {'member' if count == 1 else 'members'}{note}"
    )


def _close_own_question(ctx: Context) -> str:
    """`kb N worked` in reply to the "may already be answered" mail about the sender's own open
    question: the entry answered it, so the thread is solved (no nudge, no helper answering it again).
    Returns the thread's tag, or '' when the reply is about no such question."""
    assert ctx.community is not None and ctx.community_row is not None
    chain = threads.reference_chain(ctx.msg)
    if not chain:
        return ""
    member_id = ctx.member.id if ctx.member is not None else -1
    thread = ctx.session.scalar(
        select(Thread).where(
            Thread.community_id == ctx.community_row.id,
            Thread.root_message_id.in_(chain),
            or_(Thread.asker_email == ctx.msg.sender_email, Thread.asker_member_id == member_id),
            Thread.status != "solved",
        )
    )
    if thread is None:
        return ""
    now = ctx.clock.now()
    thread.status, thread.solved_at, thread.updated_at = "solved", now, now
    return threads.tag_for(ctx.community.thread_tag, thread.number)


def _review(ctx: Context, entry: KbEntry, status: str, th: bool) -> CommandResult:
    if not can(ctx.member.role if ctx.member else None, "edit-knowledge"):
        return CommandResult(
            "refused",
            "เฉพาะคุณลิขิตและคุณอำนวยเท่านั้นที่ยืนยันบันทึกความรู้ได้"
            if th
            else "only scribes and facilitators may confirm or retire knowledge entries",
        )
    if entry.status == "draft":
        return _publish(ctx, entry, status, th)
    # Confirming moves updated_at on (the next review counts from today); marking stale as well.
    entries.edit_entry(ctx.session, entry, now=ctx.clock.now(), status=status)
    if status == "published":
        return CommandResult("done", f"kb {entry.number} ยืนยันแล้ว: แสดงเป็นความรู้ปัจจุบัน" if th
                             else f"kb {entry.number} confirmed: shown as current")  # fmt: skip
    return CommandResult("done", f"kb {entry.number} ระบุว่าอาจล้าสมัยแล้ว" if th
                         else f"kb {entry.number} marked as may be out of date")  # fmt: skip


def _publish(ctx: Context, entry: KbEntry, status: str, th: bool) -> CommandResult:
    """`kb 12 ok` on an entry waiting for scribe review publishes it (a scribe's call)."""
    n = entry.number
    if status != "published":
        return CommandResult("error", f"kb {n} ยังรอตรวจทาน: เผยแพร่ด้วย kb {n} ok หรือแก้ไขด้วย #kb edit ในกระทู้" if th
                             else f"kb {n} is waiting for review: publish it with kb {n} ok, or correct it with #kb edit in its thread")  # fmt: skip
    if not can(ctx.member.role if ctx.member else None, "publish-knowledge"):
        return CommandResult("refused", f"kb {n} รอคุณลิขิตตรวจทาน: เฉพาะคุณลิขิตเท่านั้นที่เผยแพร่ได้" if th
                             else f"kb {n} waits for a scribe's review: only scribes publish it")  # fmt: skip
    entries.edit_entry(ctx.session, entry, now=ctx.clock.now(), status="published")
    return CommandResult("done", f"kb {n} เผยแพร่แล้ว: สมาชิกค้นหาพบได้แล้ว" if th
                         else f"kb {n} published: members can find it now")  # fmt: skip
