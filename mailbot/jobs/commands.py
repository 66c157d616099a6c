"""E-mail commands of the scheduling feature: `tip` (today's tip, submit, approve) and `digest`."""

from __future__ import annotations

import re

from sqlalchemy import select

from mailbot.commands.base import CommandResult
from mailbot.commands.util import lang, t
from mailbot.handlers.base import Context, sender_names
from mailbot.jobs import tips
from mailbot.jobs.daily_tip import tip_context
from mailbot.jobs.models import Tip, TipSend
from mailbot.knowledge.topics import topic_label
from mailbot.mail.signoff import without_framing
from mailbot.notices import send_mail
from mailbot.store.models import Member

DIGEST_MODES = {
    "daily": "daily", "day": "daily", "รายวัน": "daily", "วัน": "daily",
    "weekly": "weekly", "week": "weekly", "รายสัปดาห์": "weekly", "สัปดาห์": "weekly",
    "off": "each", "each": "each", "ปิด": "each", "ทุกโพสต์": "each", "ยกเลิก": "each",
}  # fmt: skip
APPROVERS = ("facilitator", "admin")
_APPROVE_RE = re.compile(r"^(approve|reject|อนุมัติ|ปฏิเสธ)\s+#?(\d+)", re.IGNORECASE)



def cmd_digest(ctx: Context, args: str) -> CommandResult:
    """`digest daily|weekly|off` (Thai: รายวัน|รายสัปดาห์|ปิด): set one's delivery mode."""
    if ctx.member is None:
        return CommandResult("refused", t(ctx, "only members have a delivery mode", "เฉพาะสมาชิกเท่านั้น"))
    word = (args.split() or [""])[0].lower()
    mode = DIGEST_MODES.get(word)
    if mode is None:
        return CommandResult(
            "error", t(ctx, "digest: say daily, weekly or off", "digest: ระบุ daily, weekly หรือ off")
        )
    ctx.member.delivery = mode
    text = {
        "daily": t(ctx, "digest daily: one summary mail a day instead of every post",
                    "digest daily: จะได้รับสรุปวันละฉบับแทนทุกโพสต์"),
        "weekly": t(ctx, "digest weekly: one summary mail a week instead of every post",
                     "digest weekly: จะได้รับสรุปสัปดาห์ละฉบับแทนทุกโพสต์"),
        "each": t(ctx, "digest off: you receive every post again", "digest off: กลับมารับทุกโพสต์ตามปกติ"),
    }[mode]
    return CommandResult("done", text)


def _today(ctx: Context, community_id: int) -> CommandResult:
    sent = ctx.session.execute(
        select(TipSend.number, TipSend.day, TipSend.tip_id)
        .where(TipSend.community_id == community_id)
        .order_by(TipSend.number.desc())
        .limit(1)
    ).first()
    if sent is None:
        return CommandResult("done", t(ctx, "no tip has been sent yet", "ยังไม่มีเคล็ดลับที่ส่งออกไป"))
    tip = ctx.session.get(Tip, sent.tip_id)
    assert tip is not None
    return CommandResult(
        "done",
        t(ctx, f"tip #{sent.number} sent", f"ส่งเคล็ดลับ #{sent.number} แล้ว"),
        reply_template="daily-tip",
        reply_context={"tip": tip_context(tip, sent.number, ctx.settings, lang(ctx)), "date": sent.day},
    )


def _decide(ctx: Context, community_id: int, verb: str, tip_id: int) -> CommandResult:
    if ctx.member is None or ctx.member.role not in APPROVERS:
        return CommandResult(
            "refused", t(ctx, "only facilitators may approve tips", "เฉพาะคุณอำนวย (facilitator) อนุมัติเคล็ดลับได้")
        )
    try:
        tip = tips.get(ctx.session, community_id, tip_id)
    except tips.TipError:
        return CommandResult("error", t(ctx, f"no tip {tip_id}", f"ไม่พบเคล็ดลับหมายเลข {tip_id}"))
    if tip.status != "pending":
        return CommandResult("done", t(ctx, f"tip {tip_id} is already {tip.status}",
                                        f"เคล็ดลับ {tip_id} สถานะ {tip.status} อยู่แล้ว"))  # fmt: skip
    approve = verb.lower() in ("approve", "อนุมัติ")
    tip.status = "active" if approve else "rejected"
    if approve:
        return CommandResult("done", t(ctx, f"tip {tip_id} approved: it joins the queue",
                                        f"อนุมัติเคล็ดลับ {tip_id} แล้ว เข้าคิวส่ง"))  # fmt: skip
    return CommandResult("done", t(ctx, f"tip {tip_id} rejected", f"ไม่อนุมัติเคล็ดลับ {tip_id}"))


def _body_after_command(ctx: Context) -> str:
    """The lines under the `tip` line of the new text, or all of it when `tip` was in the subject."""
    lines = (ctx.msg.new_text or "").splitlines()
    for i, line in enumerate(lines):
        words = line.strip().lower().split()
        if words and words[0].lstrip("#") in ("tip", "เกร็ด"):
            return "\n".join(lines[i + 1 :]).strip()
    return "\n".join(lines).strip()


def cmd_tip(ctx: Context, args: str) -> CommandResult:
    """`tip`: today's tip; `tip <title>` + lines below: submit one; `tip approve|reject N`: decide."""
    community, row = ctx.community, ctx.community_row
    if community is None or row is None:
        return CommandResult("error", "no community")
    args = args.strip()
    if not args:
        return _today(ctx, row.id)
    m = _APPROVE_RE.match(args)
    if m:
        return _decide(ctx, row.id, m.group(1), int(m.group(2)))
    if ctx.member is None:
        return CommandResult("refused", t(ctx, "only members may submit tips", "เฉพาะสมาชิกส่งเคล็ดลับได้"))
    title, _, rest = args.partition("\n")
    body = rest.strip() or _body_after_command(ctx)
    topic = ""
    tag = re.search(r"(?:^|\s)#([\w-]+)\s*$", title)
    if tag:
        topic, title = tag.group(1).lower(), title[: tag.start()].strip()
    body = without_framing(body, *sender_names(ctx))  # to everyone: no "Hi all," / "ขอบคุณค่ะ / สุดา"
    if not body:
        body, title = title, title[:80]
    draft = tips.TipDraft(tips.new_key(ctx.session, row.id, "mail"), title.strip()[:300], topic,
                          ctx.member.name or ctx.member.email, body)  # fmt: skip
    tip, _ = tips.upsert(ctx.session, row.id, draft, ctx.now, status="pending", submitted_by=ctx.member.email)
    approvers = list(
        ctx.session.scalars(
            select(Member.email).where(
                Member.community_id == row.id, Member.status == "active", Member.role.in_(APPROVERS)
            )
        )
    )
    if approvers:
        send_mail(
            ctx.session, ctx.renderer, community=community, community_row=row, to=approvers,
            template="tip-approval", kind="tip-approval", now=ctx.now, auto_submitted="auto-generated",
            source_message_id=ctx.record.id,
            tip={"id": tip.id, "title": tip.title, "body": tip.body, "submitted_by": ctx.member.email,
                 "topic": topic_label(str(ctx.settings.paths.resolved_rules_dir()), tip.topic, lang(ctx))},
        )  # fmt: skip
    return CommandResult(
        "done",
        t(ctx, f"tip {tip.id} received; a facilitator will approve it", f"ได้รับเคล็ดลับ {tip.id} แล้ว รออนุมัติ"),
        reply_template="tip-submitted",
        reply_context={"tip": {"id": tip.id, "title": tip.title}},
    )
