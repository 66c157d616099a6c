"""Compose a job's mail from a template and queue it for many members in one outbox row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import CommunitySettings
from mailbot.mail.compose import as_bytes, bot_message
from mailbot.outbox import Recipient, enqueue
from mailbot.render import Renderer, community_context
from mailbot.store.models import Community, Member


def members(
    session: Session,
    community_id: int,
    *,
    deliveries: Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
) -> list[Recipient]:
    """Active members as outbox recipients (with VERP tokens), filtered by delivery mode or role."""
    query = select(Member.id, Member.email, Member.verp_token).where(
        Member.community_id == community_id, Member.status == "active"
    )
    if deliveries is not None:
        query = query.where(Member.delivery.in_(list(deliveries)))
    if roles is not None:
        query = query.where(Member.role.in_(list(roles)))
    if ids is not None:
        query = query.where(Member.id.in_(list(ids)))
    return [Recipient(email, mid, token) for mid, email, token in session.execute(query.order_by(Member.id))]


def compose(
    renderer: Renderer,
    community: CommunitySettings,
    template: str,
    *,
    to: Sequence[str],
    inline_images: Sequence[tuple[str, bytes, str]] = (),
    extra_headers: dict[str, str] | None = None,
    in_reply_to: str = "",
    **context: Any,
) -> bytes:
    """Render `template` and build the mail; `in_reply_to` (a stored message id, with or without
    its angle brackets) threads it under that message."""
    rendered = renderer.render(template, community.language, community=community_context(community), **context)
    message = bot_message(
        community,
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        inline_images=inline_images,
        extra_headers=extra_headers,
        in_reply_to=in_reply_to or None,
    )
    return as_bytes(message)


def queue(
    session: Session,
    *,
    community: CommunitySettings,
    row: Community,
    kind: str,
    data: bytes,
    recipients: Sequence[Recipient],
    now: datetime,
) -> int:
    """Queue `data` for `recipients` (VERP per the community); returns the recipient count."""
    enqueue(
        session,
        community_id=row.id,
        kind=kind,
        data=data,
        recipients=recipients,
        mail_from=community.bounces_address,
        now=now,
        verp=community.verp,
    )
    return len(recipients)
