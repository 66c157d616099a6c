"""approve / reject / discard: facilitators decide on held items by replying to the moderation mail."""

from __future__ import annotations

import re

from mailbot.commands.base import CommandResult
from mailbot.commands.util import done, pol, refused, t
from mailbot.handlers.base import Context
from mailbot.moderation import held as held_mod
from mailbot.moderation.models import HeldItem
from mailbot.moderation.tokens import TOKEN_RE

_SUBJECT_TOKEN = re.compile(r"moderate\s+([a-z0-9]{6,40})", re.IGNORECASE)


def _token_and_rest(ctx: Context, args: str) -> tuple[str | None, str]:
    words = args.split(None, 1)
    if words and (TOKEN_RE.fullmatch(words[0].lower()) or words[0].isdigit()):
        return words[0], words[1] if len(words) > 1 else ""
    m = _SUBJECT_TOKEN.search(ctx.msg.subject or "")
    return (m[1] if m else None), args.strip()


def _decide(ctx: Context, args: str, action: str) -> CommandResult:
    assert ctx.community is not None and ctx.community_row is not None and ctx.release is not None
    token, rest = _token_and_rest(ctx, args)
    if token is None:
        return refused(t(ctx, f"{action}: which held post? Reply to the moderation mail, or write '{action} <code>'",
                         f"{action}: ไม่พบรหัส ตอบกลับอีเมลแจ้งรอพิจารณา หรือพิมพ์ '{action} <รหัส>'"))
    try:
        item = held_mod.find(ctx.session, ctx.community_row.id, token)
    except held_mod.HeldError as exc:
        return refused(t(ctx, str(exc), f"ไม่พบรายการที่รอพิจารณารหัส {token[:40]}"))
    try:
        summary = held_mod.decide(
            ctx.session, ctx.renderer, community=ctx.community, community_row=ctx.community_row,
            pol=pol(ctx), item=item, action=action, by=ctx.msg.sender_email, note=rest, now=ctx.now,
            clock=ctx.clock, release=ctx.release,
        )
    except held_mod.HeldError as exc:
        return refused(t(ctx, str(exc), _problem_th(exc.reason, item)))
    return done(t(ctx, summary, _decided_th(item, action, rest)))


_DONE_TH = {"approved": "อนุมัติ", "rejected": "ไม่อนุมัติ", "discarded": "ทิ้ง"}


def _decided_th(item: HeldItem, action: str, note: str) -> str:
    """The one-line summary held.decide gives, for a Thai community's facilitator."""
    if action == "approve" and item.kind == "subscription":
        return f"อนุมัติแล้ว: {item.sender} เข้าร่วมกลุ่ม"
    what = f"“{item.subject}” จาก {item.sender}"
    if action == "approve":
        return f"อนุมัติแล้ว: {what}"
    if action == "reject":
        return f"ไม่อนุมัติ: {what}" + (f" ({note})" if note else "")
    return f"ทิ้งแล้ว: {what}"


def _problem_th(reason: str, item: HeldItem) -> str:
    """Why held.decide refused (HeldError.reason), for a Thai community's facilitator."""
    if reason == "decided" and item.status in _DONE_TH:
        who = f" โดย {item.decided_by}" if item.decided_by else ""
        return f"รายการ {item.token} {_DONE_TH[item.status]}ไปแล้ว{who}"
    if reason == "expired":
        return f"รายการ {item.token} หมดเวลาพิจารณาแล้ว"
    return f"ทำรายการ {item.token} ไม่ได้"


def cmd_approve(ctx: Context, args: str) -> CommandResult:
    return _decide(ctx, args, "approve")


def cmd_reject(ctx: Context, args: str) -> CommandResult:
    return _decide(ctx, args, "reject")


def cmd_discard(ctx: Context, args: str) -> CommandResult:
    return _decide(ctx, args, "discard")
