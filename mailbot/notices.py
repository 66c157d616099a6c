"""Mail the bot writes to one person (notices, command replies), rendered from digests/ and rate-limited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.mail.compose import as_bytes, bot_message
from mailbot.outbox import Recipient, enqueue
from mailbot.render import Renderer, community_context
from mailbot.store.models import Community, NoticeLog

if TYPE_CHECKING:  # only for annotations: handlers import this module
    from mailbot.handlers.base import Context


def recently_noticed(
    session: Session, community_id: int, address: str, kind: str, since: datetime
) -> bool:
    hit = session.scalar(
        select(NoticeLog.id)
        .where(
            NoticeLog.community_id == community_id,
            NoticeLog.address == address,
            NoticeLog.kind == kind,
            NoticeLog.sent_at >= since,
        )
        .limit(1)
    )
    return hit is not None


def send_mail(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    to: Sequence[str],
    template: str,
    kind: str,
    now: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    inline_images: Sequence[tuple[str, bytes, str]] = (),
    source_message_id: int | None = None,
    **context: Any,
) -> None:
    """Render `template` in the community's language and queue it for `to`."""
    rendered = renderer.render(
        template, community.language, community=community_context(community), **context
    )
    message = bot_message(
        community,
        to=list(to),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=auto_submitted,
        inline_images=inline_images,
    )
    enqueue(
        session,
        community_id=community_row.id,
        kind=kind,
        data=as_bytes(message),
        recipients=[Recipient(a) for a in to],
        mail_from=community.bounces_address,
        now=now,
        source_message_id=source_message_id,
    )


def send_notice(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    to: str,
    template: str,
    kind: str,
    now: datetime,
    interval: timedelta,
    **kwargs: Any,
) -> bool:
    """Like send_mail to one address, but at most once per `interval` per (address, kind): no storms."""
    if not to or recently_noticed(session, community_row.id, to, kind, now - interval):
        return False
    session.add(NoticeLog(community_id=community_row.id, address=to, kind=kind, sent_at=now))
    send_mail(
        session,
        renderer,
        community=community,
        community_row=community_row,
        to=[to],
        template=template,
        kind=kind,
        now=now,
        **kwargs,
    )
    return True


def reply_to_sender(
    ctx: Context,
    template: str,
    kind: str,
    *,
    interval: timedelta | None = None,
    **context: Any,
) -> bool:
    """Answer the sender of the message being handled (threaded to it); with `interval`, at most
    once per period per (sender, kind). Returns whether a mail was queued."""
    assert ctx.community is not None and ctx.community_row is not None
    common: dict[str, Any] = {
        "community": ctx.community,
        "community_row": ctx.community_row,
        "template": template,
        "kind": kind,
        "now": ctx.now,
        "in_reply_to": ctx.msg.message_id,
        "source_message_id": ctx.record.id,
    }
    if interval is not None:
        return send_notice(
            ctx.session, ctx.renderer, to=ctx.msg.sender_email, interval=interval, **common, **context
        )
    send_mail(ctx.session, ctx.renderer, to=[ctx.msg.sender_email], **common, **context)
    return True
