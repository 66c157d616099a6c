"""Run the command lines of one mail: permissions, authentication, deferral to a confirmation round-trip."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mailbot.commands.base import Command, CommandResult
from mailbot.commands.parse import CommandLine
from mailbot.commands.table import lookup
from mailbot.commands.util import pol, t
from mailbot.handlers.base import Context
from mailbot.moderation import authres, tokens
from mailbot.moderation.roles import PRIVILEGED, can
from mailbot.notices import reply_to_sender

log = logging.getLogger("mailbot.commands")
CONFIRMED = "commands-confirmed"  # facts.extra key set when re-running lines after a confirmation


@dataclass
class Report:
    done: list[str] = field(default_factory=list)
    own_replies: list[CommandResult] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    mailed: int = 0  # done lines whose command already wrote to the sender (CommandResult.mailed_sender)


def authenticated(ctx: Context) -> bool:
    assert ctx.community is not None
    return authres.verdict(ctx.msg, pol(ctx).authserv_ids).passed


def _verified(ctx: Context) -> bool:
    return bool(ctx.facts.extra.get(CONFIRMED)) or (pol(ctx).trust_authenticated_senders and authenticated(ctx))


def _gate(ctx: Context, cmd: Command) -> str | None:
    """Why this sender may not run `cmd` now (a refusal line), or None."""
    is_member = ctx.member is not None and ctx.member.status != "left"
    if cmd.needs_member and not is_member:
        return t(ctx, "only members may use this command; write 'subscribe' to join",
                 "คำสั่งนี้ใช้ได้เฉพาะสมาชิก พิมพ์ subscribe เพื่อสมัคร")
    if cmd.permission:
        role = ctx.member.role if is_member and ctx.member else None
        if not can(role, cmd.permission):
            return t(ctx, f"your role may not do this ({cmd.permission})",
                     f"บทบาทของคุณไม่มีสิทธิ์ทำคำสั่งนี้ ({cmd.permission})")
        if cmd.permission in PRIVILEGED and pol(ctx).require_dmarc_for_privileged and not authenticated(ctx):
            # A forged From of a facilitator must not approve anything.
            return t(ctx, "refused: our mail server could not authenticate your mail (DMARC/DKIM)",
                     "ปฏิเสธ: เซิร์ฟเวอร์ยืนยันตัวตนผู้ส่งไม่ได้ (DMARC/DKIM)")
    return None


def run_lines(ctx: Context, lines: list[CommandLine]) -> Report:
    report = Report()
    verified = _verified(ctx)
    for line in lines:
        cmd = lookup(line.word)
        if cmd is None:  # parse only yields known words; a table change between confirm and reply might not
            report.done.append(f"{line.raw}: " + t(ctx, "unknown command", "ไม่รู้จักคำสั่ง"))
            continue
        report.names.append(cmd.name)
        why_not = _gate(ctx, cmd)
        if why_not:
            report.done.append(f"{line.raw}: {why_not}")
            continue
        if cmd.changes_state and not verified:
            report.deferred.append(f"{line.word} {line.args}".strip())
            continue
        try:
            with ctx.session.begin_nested():
                result = cmd.fn(ctx, line.args)
        except Exception as exc:  # noqa: BLE001 - one broken command must not lose the others' replies
            log.exception("command %s failed", cmd.name)
            result = CommandResult("error", t(ctx, f"failed ({type(exc).__name__})", f"ทำไม่สำเร็จ ({type(exc).__name__})"))
        mark = "" if result.status == "done" else t(ctx, "NOT DONE: ", "ไม่ได้ทำ: ")
        report.done.append(f"{cmd.name}: {mark}{result.summary}")
        if result.status == "done" and result.mailed_sender:
            report.mailed += 1
        if result.reply_template:
            report.own_replies.append(result)
        elif result.reply_context.get("extra_text"):
            report.extra.append(str(result.reply_context["extra_text"]))
    if report.deferred:
        _defer(ctx, report)
    return report


def _defer(ctx: Context, report: Report) -> None:
    """Changes to someone's state from an unauthenticated From wait for a reply to a mailed code."""
    assert ctx.community is not None and ctx.community_row is not None
    row = tokens.issue(
        ctx.session,
        community_id=ctx.community_row.id,
        action="commands",
        address=ctx.msg.sender_email,
        member_id=ctx.member.id if ctx.member else None,
        now=ctx.now,
        ttl=timedelta(hours=pol(ctx).token_ttl_hours),
        data={"lines": report.deferred},
    )
    reply_to_sender(ctx, "confirm-commands", "confirm-commands", token=row.token, commands=report.deferred)
    for line in report.deferred:
        report.done.append(
            f"{line}: " + t(ctx, "waiting for your confirmation (a code was mailed to you)",
                            "รอการยืนยัน (ส่งรหัสยืนยันไปที่อีเมลของคุณแล้ว)")
        )
    report.mailed += len(report.deferred)  # the confirmation mail lists them: no summary needed for these


def run_confirmed(ctx: Context, lines: list[Any]) -> CommandResult:
    """Re-run deferred lines for the confirmed sender (called by `confirm`)."""
    from mailbot.commands.parse import split_word
    from mailbot.commands.table import THAI_PREFIXES

    extra = {**ctx.facts.extra, CONFIRMED: True}
    confirmed = dataclasses.replace(ctx, facts=dataclasses.replace(ctx.facts, extra=extra))
    parsed = []
    for raw in lines[:20]:
        hit = split_word(str(raw), lambda w: lookup(w) is not None, THAI_PREFIXES)
        if hit:
            parsed.append(CommandLine(hit[0], hit[1], str(raw)[:120], "confirmed"))
    report = run_lines(confirmed, parsed)
    summary = "; ".join(report.done) or t(ctx, "nothing to do", "ไม่มีคำสั่งให้ทำ")
    return CommandResult("done", summary, reply_context={"extra_text": "\n".join(report.extra)})
