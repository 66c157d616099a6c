"""`#tip` as the first line of a group post: the post is a tip submission, not a discussion.

The tip waits for a facilitator's approval (as with the `tip` command to the request address);
the sender gets the usual acknowledgement.
"""

from __future__ import annotations

import re

from mailbot.handlers.base import Context, Outcome
from mailbot.notices import reply_to_sender

_FIRST = re.compile(r"^\s*#(?:tip|เกร็ด)\b[ \t]*(?P<title>.*)$", re.IGNORECASE)


def handle_tip(ctx: Context) -> Outcome:
    # Imported here: the command modules import mailbot.handlers.base, whose package imports us.
    from mailbot.jobs.commands import cmd_tip

    first = next((ln for ln in ctx.msg.new_text.splitlines() if ln.strip()), "")
    m = _FIRST.match(first)
    title = (m.group("title").strip() if m else "") or ctx.msg.subject
    result = cmd_tip(ctx, title)
    if result.reply_template:
        reply_to_sender(ctx, result.reply_template, "command-reply", **result.reply_context)
    status = "processed" if result.status == "done" else "ignored"
    return Outcome(status, f"tip submission: {result.summary}")
