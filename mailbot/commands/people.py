"""profile / who / stats: the community's who's-who and one's own participation."""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select

from mailbot.commands.base import CommandResult
from mailbot.commands.util import done, refused, t
from mailbot.handlers.base import Context, sender_names
from mailbot.mail.signoff import without_sign_off
from mailbot.store.models import Member, Message

_FIELD = re.compile(
    r"^\s*(name|ชื่อ|section|department|ส่วนงาน|หน่วยงาน|ฝ่าย|topics|expertise|ความเชี่ยวชาญ|หัวข้อ|ถนัด)\s*[:：]\s*(.*)$",
    re.IGNORECASE,
)
_KEYS = {
    "name": "name", "ชื่อ": "name",
    "section": "section", "department": "section", "ส่วนงาน": "section", "หน่วยงาน": "section", "ฝ่าย": "section",
    "topics": "expertise", "expertise": "expertise", "ความเชี่ยวชาญ": "expertise", "หัวข้อ": "expertise",
    "ถนัด": "expertise",
}
MAX_WHO = 10


def _describe(m: Member) -> str:
    parts = [f"{m.name or m.email} <{m.email}>"]
    if m.section:
        parts.append(m.section)
    if m.expertise:
        parts.append(m.expertise)
    line = " — ".join(parts)
    if m.intro:
        line += "\n    " + " ".join(m.intro.split())[:200]
    return line


def cmd_profile(ctx: Context, args: str) -> CommandResult:
    member = ctx.member
    if member is None:
        return refused(t(ctx, "only members have a profile", "เฉพาะสมาชิกเท่านั้น"))
    if not args.strip():
        return done(t(ctx, "your profile is below", "ประวัติของคุณอยู่ด้านล่าง"), extra_text=_describe(member))
    intro: list[str] = []
    changed: list[str] = []
    for line in without_sign_off(args, *sender_names(ctx)).splitlines():  # "อนันต์" under it is no intro
        m = _FIELD.match(line)
        if m:
            key, value = _KEYS[m[1].lower()], m[2].strip()[:200]
            setattr(member, key, value)
            changed.append(key)
        elif line.strip():
            intro.append(line.strip())
    if intro:
        member.intro = "\n".join(intro)[:2000]
        changed.append("intro")
    return done(
        t(ctx, f"profile updated ({', '.join(changed)})", f"ปรับปรุงประวัติแล้ว ({', '.join(changed)})"),
        extra_text=_describe(member),
    )


def cmd_who(ctx: Context, args: str) -> CommandResult:
    assert ctx.community_row is not None
    q = " ".join(args.split())[:100]
    if not q:
        return refused(t(ctx, "write a name or topic after 'who'", "พิมพ์ชื่อหรือหัวข้อต่อจากคำว่า ใคร"))
    like = f"%{q.lower().replace('%', '').replace('_', '')}%"
    fields = (Member.name, Member.email, Member.section, Member.expertise, Member.intro)
    found = ctx.session.scalars(
        select(Member)
        .where(
            Member.community_id == ctx.community_row.id,
            Member.status != "left",
            or_(*[func.lower(f).like(like) for f in fields]),
        )
        .order_by(Member.name, Member.email)
        .limit(MAX_WHO + 1)
    ).all()
    answerers, label = _answerers(ctx, q, {m.id for m in found})
    if not found and not answerers:
        return done(t(ctx, f"who {q}: nobody found", f"ใคร {q}: ไม่พบ"))
    lines = [_describe(m) for m in found[:MAX_WHO]]
    more = t(ctx, "\n(more: narrow your search)", "\n(ยังมีอีก ลองระบุให้แคบลง)") if len(found) > MAX_WHO else ""
    if answerers:
        # Profiles are seldom filled in; who answered questions on the topic is known from the threads.
        heading = t(ctx, f"Often answers questions on {label}:", f"ตอบคำถามเรื่อง {label} บ่อย:")
        lines += (["", heading] if lines else [heading]) + [_describe(m) for m in answerers]
    count = len(found[:MAX_WHO]) + len(answerers)
    return done(t(ctx, f"who {q}: {count} found", f"ใคร {q}: พบ {count} คน"), extra_text="\n".join(lines) + more)


def _answerers(ctx: Context, q: str, shown: set[int]) -> tuple[list[Member], str]:
    """Members who answered most on the topic `q` names (its name, a label or a keyword), besides
    those already shown; and the topic's label."""
    from mailbot.jobs.nudges import experts  # lazily: the jobs package wires the scheduler
    from mailbot.knowledge.topics import topics_for

    assert ctx.community_row is not None
    topics = topics_for(str(ctx.settings.paths.resolved_rules_dir()))
    topic = topics.by_tag(q) or topics.get(topics.classify(q, ""))
    if topic is None:
        return [], ""
    ids = [i for i in experts(ctx.session, ctx.community_row.id, topic.name, None, MAX_WHO) if i not in shown]
    by_id = {m.id: m for m in ctx.session.scalars(select(Member).where(Member.id.in_(ids)))} if ids else {}
    lang = ctx.community.language if ctx.community else "en"
    return [by_id[i] for i in ids if i in by_id], topic.label(lang)


def _answers(ctx: Context, member_id: int) -> tuple[int, int]:
    """(answers given, of them accepted), from the knowledge tables: a reply counts when it answered
    someone else's question, not the asker's own follow-ups or a "#solved" line."""
    from mailbot.knowledge.models import Answer

    given, accepted = ctx.session.execute(
        select(func.count(Answer.id), func.count(Answer.id).filter(Answer.accepted.is_(True))).where(
            Answer.member_id == member_id
        )
    ).one()
    return int(given or 0), int(accepted or 0)


def cmd_stats(ctx: Context, args: str) -> CommandResult:
    member = ctx.member
    if member is None:
        return refused(t(ctx, "only members have statistics", "เฉพาะสมาชิกเท่านั้น"))
    counts = dict(
        ctx.session.execute(
            select(Message.kind, func.count(Message.id))
            .where(
                Message.member_id == member.id,
                Message.status == "processed",
                Message.kind.in_(("post", "question", "answer")),
            )
            .group_by(Message.kind)
        ).all()
    )
    posts = sum(counts.values())
    answers, accepted = _answers(ctx, member.id)
    return done(
        t(ctx, f"stats: {posts} posts, {counts.get('question', 0)} questions, {answers} answers, {accepted} accepted answers",
          f"สถิติ: โพสต์ {posts} ครั้ง คำถาม {counts.get('question', 0)} คำตอบ {answers} คำตอบที่ได้รับการยอมรับ {accepted}"),
    )
