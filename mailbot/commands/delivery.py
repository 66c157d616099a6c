"""nomail / mail: stop and resume group mail for oneself (digest modes live in mailbot.jobs.commands)."""

from __future__ import annotations

from mailbot.commands.base import CommandResult
from mailbot.commands.util import done, refused, t
from mailbot.handlers.base import Context
from mailbot.moderation.bounce_score import DISABLED_REASON


def cmd_nomail(ctx: Context, args: str) -> CommandResult:
    if ctx.member is None:
        return refused(t(ctx, "only members have mail to stop", "เฉพาะสมาชิกเท่านั้น"))
    ctx.member.delivery = "none"
    return done(t(ctx, "group mail stopped; write 'mail' to resume", "หยุดส่งอีเมลกลุ่มแล้ว พิมพ์ mail เพื่อรับอีกครั้ง"))


def cmd_mail(ctx: Context, args: str) -> CommandResult:
    member = ctx.member
    if member is None:
        return refused(t(ctx, "only members receive group mail", "เฉพาะสมาชิกเท่านั้น"))
    member.delivery = "each"
    extra = ""
    if member.status == "disabled" and member.disabled_reason == DISABLED_REASON:
        # They just wrote to us from this address, so it works again: start afresh.
        member.status, member.disabled_reason, member.bounce_score = "active", "", 0.0
        extra = t(ctx, " (delivery was stopped by bounces; it is on again)", " (เปิดการส่งที่เคยหยุดเพราะอีเมลตีกลับแล้ว)")
    return done(t(ctx, "you will receive every post again", "จะได้รับทุกโพสต์อีกครั้ง") + extra)
