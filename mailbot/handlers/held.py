"""Hold a post (non-member, too big, ...): stored but not distributed; the sender hears why, once."""

from __future__ import annotations

from datetime import timedelta

from mailbot.handlers.base import Context, Outcome
from mailbot.notices import send_notice

REASONS = {
    "non-member": "sender is not a member",
    "too-big": "message is over the size limit",
}


def handle_held(ctx: Context) -> Outcome:
    reason = REASONS.get(ctx.decision.rule, ctx.decision.rule)
    community, row = ctx.community, ctx.community_row
    assert community is not None and row is not None
    if ctx.decision.rule == "non-member" and community.members_only:
        send_notice(
            ctx.session,
            ctx.renderer,
            community=community,
            community_row=row,
            to=ctx.msg.sender_email,
            template="nonmember-notice",
            kind="nonmember-notice",
            now=ctx.now,
            interval=timedelta(hours=ctx.settings.limits.notice_interval_hours),
            in_reply_to=ctx.msg.message_id,
            subject=ctx.msg.subject,
            source_message_id=ctx.record.id,
        )
    elif ctx.decision.rule == "non-member":
        # An open community: anyone may post, so this is a post after all.
        from mailbot.handlers.post import handle_post

        return handle_post(ctx)
    return Outcome("held", reason)
