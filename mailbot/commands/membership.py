"""subscribe / unsubscribe / confirm: every change of membership goes through a mailed single-use code."""

from __future__ import annotations

from datetime import timedelta

from mailbot import members as members_mod
from mailbot.commands.base import CommandResult
from mailbot.commands.util import done, pol, refused, t
from mailbot.handlers.base import Context
from mailbot.moderation import held as held_mod
from mailbot.moderation import tokens
from mailbot.notices import send_notice


def _target(ctx: Context, args: str) -> str:
    for word in args.split():
        if "@" in word:
            return members_mod.normalise_email(word)
    return ctx.msg.sender_email


def _send_code(ctx: Context, action: str, address: str) -> bool:
    assert ctx.community is not None and ctx.community_row is not None
    p = pol(ctx)
    row = tokens.issue(
        ctx.session,
        community_id=ctx.community_row.id,
        action=action,
        address=address,
        now=ctx.now,
        ttl=timedelta(hours=p.token_ttl_hours),
    )
    # At most one code per address and action per period: `subscribe victim@...` in a loop must
    # not turn the bot into a mail bomb. A suppressed code is left to expire unused.
    return send_notice(
        ctx.session,
        ctx.renderer,
        community=ctx.community,
        community_row=ctx.community_row,
        to=address,
        template="confirm",
        kind=f"confirm-{action}",
        now=ctx.now,
        interval=timedelta(hours=1),
        auto_submitted="auto-replied",
        source_message_id=ctx.record.id,
        action=action,
        token=row.token,
        address=address,
    )


def cmd_subscribe(ctx: Context, args: str) -> CommandResult:
    assert ctx.community_row is not None
    try:
        address = _target(ctx, args)
    except members_mod.MemberError as exc:
        return refused(str(exc))
    if not address:
        return refused(t(ctx, "no address to subscribe", "ไม่พบอีเมลที่จะสมัคร"))
    member = members_mod.find(ctx.session, ctx.community_row, address)
    if member is not None and member.status != "left":
        return done(t(ctx, f"{address} is already a member", f"{address} เป็นสมาชิกอยู่แล้ว"))
    p = pol(ctx)
    domain = address.rpartition("@")[2]
    if p.join_policy == "domains" and domain not in p.allowed_domains:
        return refused(
            t(ctx, f"this community is open to addresses at {', '.join(p.allowed_domains)} only",
              f"ชุมชนนี้รับเฉพาะอีเมล {', '.join(p.allowed_domains)}")
        )
    if not _send_code(ctx, "subscribe", address):
        return done(t(ctx, f"a confirmation code was already sent to {address} recently",
                      f"ส่งรหัสยืนยันไปที่ {address} แล้วเมื่อไม่นานนี้"))
    return _code_sent(ctx, address, t(ctx, f"confirmation code sent to {address}: reply to that mail to join",
                                      f"ส่งรหัสยืนยันไปที่ {address} แล้ว ตอบกลับอีเมลนั้นเพื่อยืนยันการสมัคร"))


def cmd_unsubscribe(ctx: Context, args: str) -> CommandResult:
    assert ctx.community_row is not None
    try:
        address = _target(ctx, args)
    except members_mod.MemberError as exc:
        return refused(str(exc))
    member = members_mod.find(ctx.session, ctx.community_row, address) if address else None
    if member is None or member.status == "left":
        return refused(t(ctx, f"{address} is not a member", f"{address} ไม่ได้เป็นสมาชิก"))
    if not _send_code(ctx, "unsubscribe", address):
        return done(t(ctx, f"a confirmation code was already sent to {address} recently",
                      f"ส่งรหัสยืนยันไปที่ {address} แล้วเมื่อไม่นานนี้"))
    return _code_sent(ctx, address, t(ctx, f"confirmation code sent to {address}: reply to that mail to leave",
                                      f"ส่งรหัสยืนยันไปที่ {address} แล้ว ตอบกลับอีเมลนั้นเพื่อยืนยันการเลิกรับอีเมล"))


def _code_sent(ctx: Context, address: str, summary: str) -> CommandResult:
    """Done; when the code went to the sender's own address, that mail is the whole answer
    (one mail for "subscribe", as list servers send), else the sender is told where it went."""
    result = done(summary)
    result.mailed_sender = address.lower() == (ctx.msg.sender_email or "").lower()
    return result


# tokens.TokenError.reason -> what a Thai reader is told (the English text comes with the error).
_TOKEN_PROBLEM_TH = {
    "unknown": "ไม่รู้จักรหัสยืนยันนี้ (อาจพิมพ์ผิด)",
    "wrong-action": "รหัสยืนยันนี้ใช้กับคำสั่งนี้ไม่ได้",
    "wrong-address": "ต้องยืนยันจากอีเมลที่ได้รับรหัสนี้",
    "used": "รหัสยืนยันนี้ใช้ไปแล้ว (คำขอนี้ยืนยันเรียบร้อยแล้ว)",
    "expired": "รหัสยืนยันนี้หมดอายุแล้ว กรุณาส่งคำขอใหม่",
}


def cmd_confirm(ctx: Context, args: str) -> CommandResult:
    assert ctx.community is not None and ctx.community_row is not None
    found = tokens.find_tokens(args) or tokens.find_tokens(ctx.msg.subject)
    if not found:
        return refused(t(ctx, "no confirmation code found", "ไม่พบรหัสยืนยัน"))
    try:
        row = tokens.redeem(
            ctx.session,
            community_id=ctx.community_row.id,
            token=found[0],
            now=ctx.now,
            actions=("subscribe", "unsubscribe", "commands"),
            address=ctx.msg.sender_email,
        )
    except tokens.TokenError as exc:
        return refused(t(ctx, str(exc), _TOKEN_PROBLEM_TH.get(exc.reason, "ใช้รหัสยืนยันนี้ไม่ได้")))
    if row.action == "unsubscribe":
        try:
            members_mod.remove(ctx.session, ctx.community_row, row.address)
        except members_mod.MemberError as exc:
            return refused(str(exc))
        return done(t(ctx, f"{row.address} has left {ctx.community.display_name}",
                      f"{row.address} เลิกรับอีเมลจาก {ctx.community.display_name} แล้ว"))
    if row.action == "commands":
        from mailbot.commands.run import run_confirmed

        return run_confirmed(ctx, tokens.payload(row).get("lines", []))
    p = pol(ctx)
    if p.join_policy == "approval":
        held_mod.hold(
            ctx.session, ctx.renderer, community=ctx.community, community_row=ctx.community_row,
            pol=p, sender=row.address, subject=t(ctx, "join request", "ขอเข้าร่วมชุมชน"),
            excerpt=row.address, reason="join-request", now=ctx.now, record=ctx.record,
            kind="subscription",
        )
        return done(t(ctx, "your request to join was sent to the facilitators",
                      "ส่งคำขอเข้าร่วมถึงคุณอำนวยแล้ว"))
    # Named as their mail signs them ("มะลิ ใจงาม"), unless the member list already has a name.
    known = members_mod.find(ctx.session, ctx.community_row, row.address)
    signed = "" if known is not None and known.name else (ctx.msg.from_.name if ctx.msg.from_ else "")
    member, _created = members_mod.add(ctx.session, ctx.community_row, row.address, ctx.clock, name=signed[:200])
    held_mod.welcome(ctx.session, ctx.renderer, community=ctx.community, community_row=ctx.community_row,
                     member=member, now=ctx.now)
    # The welcome mail says it (and how to take part): no second mail to say the same.
    return CommandResult("done", t(ctx, f"welcome: {row.address} is now a member",
                                   f"ยินดีต้อนรับ {row.address} เป็นสมาชิกแล้ว"), mailed_sender=True)
