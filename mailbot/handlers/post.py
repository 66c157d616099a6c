"""Distribute a member's post to every other active member (the heart of group mail)."""

from __future__ import annotations

from mailbot.handlers.base import Context, Outcome
from mailbot.mail.compose import list_copy
from mailbot.outbox import enqueue_members
from mailbot.store.rows import update_row


def distribute(ctx: Context, *, tag: str | None = None, footer_text: str | None = None) -> int:
    """Queue the list copy of ctx.msg for every active each-post member; return the recipient count."""
    community, row = ctx.community, ctx.community_row
    assert community is not None and row is not None
    sender = ctx.msg.sender_email
    from_ = ctx.msg.from_
    data = list_copy(
        ctx.msg.message,
        community=community,
        subject=ctx.msg.subject,
        from_name=from_.name if from_ else "",
        from_email=sender,
        tag=tag,
        footer_text=footer_text,
        original_raw=ctx.msg.raw,
    )
    count = enqueue_members(
        ctx.session,
        community_id=row.id,
        kind="list-copy",
        data=data,
        mail_from=community.bounces_address,
        verp=community.verp,
        now=ctx.now,
        source_message_id=ctx.record.id,
        exclude_email=None if community.echo_to_sender else sender,
    )
    if ctx.member is not None:
        update_row(ctx.session, ctx.member, last_post_at=ctx.now)
    return count


def handle_post(ctx: Context) -> Outcome:
    count = distribute(ctx)
    return Outcome("processed", f"distributed to {count} members")
