"""Hold a post (non-member, too big, blocked attachment, first post, too frequent): stored, not
distributed, sent to the facilitators with a decision code; the sender hears why, once per period.
"""

from __future__ import annotations

from datetime import timedelta

from mailbot.handlers.base import Context, Outcome
from mailbot.moderation.held import hold, reason_text
from mailbot.moderation.policy import policy
from mailbot.notices import reply_to_sender


def handle_held(ctx: Context) -> Outcome:
    reason = reason_text(ctx.decision.rule, "en")  # for the log and `mailbot messages`
    community, row = ctx.community, ctx.community_row
    assert community is not None and row is not None
    pol = policy(ctx.settings, community)
    interval = timedelta(hours=ctx.settings.limits.notice_interval_hours)
    if ctx.decision.rule == "non-member":
        if not community.members_only:
            # An open community: anyone may post, so this is a post after all.
            from mailbot.handlers.post import handle_post

            return handle_post(ctx)
        reply_to_sender(
            ctx, "nonmember-notice", "nonmember-notice", interval=interval, subject=ctx.msg.subject
        )
    item = hold(
        ctx.session,
        ctx.renderer,
        community=community,
        community_row=row,
        pol=pol,
        sender=ctx.msg.sender_email,
        sender_name=ctx.msg.from_.name if ctx.msg.from_ else "",
        subject=ctx.msg.subject,
        excerpt=ctx.msg.new_text[:1000],
        reason=ctx.decision.rule,
        now=ctx.now,
        record=ctx.record,
    )
    if ctx.decision.rule != "non-member":
        reply_to_sender(
            ctx,
            "held-decision",
            "held-notice",
            interval=interval,
            decision="held",
            held={"subject": ctx.msg.subject, "kind": "post"},
            note=reason_text(ctx.decision.rule, community.language),
        )
    return Outcome("held", f"{reason} (held {item.token})")
