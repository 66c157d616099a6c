"""E-mail commands to <list>-request: rate-limited, never answering machines, one reply per mail.

The reply lists what was done, what was not understood and what was ignored (command-reply);
commands that answer with their own mail (help, search, kb) send it in addition.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mailbot.handlers.base import Context, Outcome, sender_names
from mailbot.mail.signoff import is_courtesy_only, without_nickname, without_sign_off
from mailbot.moderation.policy import policy
from mailbot.moderation.ratelimit import over_limit
from mailbot.notices import send_mail, send_notice

_MACHINE_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def machine_generated(ctx: Context) -> str | None:
    """Why this mail comes from a machine (so we must not answer it), or None. RFC 3834."""
    auto = (ctx.msg.header("auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted: {auto[:40]}"
    if (ctx.msg.header("precedence") or "").strip().lower() in _MACHINE_PRECEDENCE:
        return "precedence bulk/junk/list"
    if ctx.msg.header("list-id") or ctx.msg.header("x-autoreply") or ctx.msg.header("x-autorespond"):
        return "list or autoresponder headers"
    sender = ctx.msg.sender_email
    if not sender or sender.split("@")[0] in ("mailer-daemon", "postmaster", "noreply", "no-reply"):
        return "no human sender"
    return None


def handle_command(ctx: Context) -> Outcome:
    # Imported here: mailbot.commands imports mailbot.handlers.base, whose package imports us.
    from mailbot.commands.parse import parse_commands, split_word
    from mailbot.commands.run import run_lines
    from mailbot.commands.table import THAI_PREFIXES, lookup

    community, row = ctx.community, ctx.community_row
    if community is None or row is None:
        return Outcome("ignored", "command for no community")
    machine = machine_generated(ctx)
    if machine:
        return Outcome("ignored", f"not answering machine mail ({machine})")
    pol = policy(ctx.settings, community)
    sender = ctx.msg.sender_email
    interval = timedelta(hours=pol.notice_interval_hours)
    limited = over_limit(
        ctx.session, community_id=row.id, sender=sender, roles=("request",), now=ctx.now,
        per_minute=pol.commands_per_minute, per_hour=pol.commands_per_hour, exclude_id=ctx.record.id,
    )
    if limited:
        # One notice per period, then silence: two bots answering each other stop here.
        send_notice(
            ctx.session, ctx.renderer, community=community, community_row=row, to=sender,
            template="command-reply", kind="command-rate-limit", now=ctx.now, interval=interval,
            in_reply_to=ctx.msg.message_id, source_message_id=ctx.record.id,
            done=[], not_understood=[], ignored=[],
            extra_text=("Too many commands from this address; please wait an hour."
                        if community.language == "en" else
                        "ส่งคำสั่งถี่เกินไป กรุณารอประมาณหนึ่งชั่วโมงแล้วลองใหม่"),
        )
        return Outcome("ignored", f"command rate limit ({limited})")

    def is_command(line: str) -> bool:
        return split_word(line, lambda w: lookup(w) is not None, THAI_PREFIXES) is not None

    # A sign-off ("Thanks / Anan", or a nickname alone under the commands) is neither a command nor
    # worth reporting as not understood.
    text = without_nickname(without_sign_off(ctx.msg.new_text, *sender_names(ctx)), is_command)
    parsed = parse_commands(
        ctx.msg.subject, text, prefix=community.prefix,
        is_command=lambda w: lookup(w) is not None,
        takes_body=lambda w: bool((c := lookup(w)) and c.takes_body),
        max_lines=max(pol.command_lines, 1), no_space_prefixes=THAI_PREFIXES,
        canonical=lambda w: c.name if (c := lookup(w)) else w,
    )
    if not parsed.commands and is_courtesy_only(ctx.msg.new_text, *sender_names(ctx)):
        return Outcome("processed", "a thank-you, no command: not answered")  # a reply would only say "no command"
    not_understood = list(parsed.not_understood)
    first = lookup(parsed.commands[0].word) if parsed.commands and parsed.commands[0].where == "subject" else None
    if first is not None and first.name == "confirm":
        # A reply to a confirmation says yes in words ("yes please", "ok ครับ"): not commands to report.
        not_understood = [line for line in not_understood if len(line.split()) > 3]
    report = run_lines(ctx, list(parsed.commands))
    common: dict[str, Any] = dict(in_reply_to=ctx.msg.message_id, references=ctx.msg.references, source_message_id=ctx.record.id)
    for result in report.own_replies:
        assert result.reply_template is not None
        send_mail(
            ctx.session, ctx.renderer, community=community, community_row=row, to=[sender],
            template=result.reply_template, kind=f"command-{result.reply_template}", now=ctx.now,
            **common, **result.reply_context,
        )
    reply: dict[str, Any] = dict(
        done=report.done, not_understood=not_understood, ignored=list(parsed.ignored),
        extra_text="\n\n".join(report.extra),
    )
    # Every line already answered by a mail of its own (search results, a confirmation code): no summary.
    answered = len(report.own_replies) + report.mailed
    only_own = answered > 0 and len(report.done) == answered and not not_understood
    if not parsed.commands:
        # Nothing we understood: answer once per period only (a chatty bot or a vacation reply
        # without Auto-Submitted would otherwise get an answer to every answer).
        send_notice(
            ctx.session, ctx.renderer, community=community, community_row=row, to=sender,
            template="command-reply", kind="command-none", now=ctx.now, interval=interval, **common, **reply,
        )
        return Outcome("processed", f"no command found ({len(parsed.not_understood)} lines not understood)")
    if not only_own:
        send_mail(
            ctx.session, ctx.renderer, community=community, community_row=row, to=[sender],
            template="command-reply", kind="command-reply", now=ctx.now, **common, **reply,
        )
    return Outcome("processed", "commands: " + ", ".join(report.names))
