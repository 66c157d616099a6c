"""Held items: hold a post (or join request) for the facilitators, decide on it, expire old ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import members as members_mod
from mailbot.clock import Clock
from mailbot.config import CommunitySettings
from mailbot.moderation.models import HeldItem
from mailbot.moderation.policy import Policy
from mailbot.moderation.roles import roles_with
from mailbot.moderation.tokens import new_token
from mailbot.notices import recently_noticed, send_mail, send_notice
from mailbot.render import Renderer
from mailbot.store.models import Community, Member, Message, NoticeLog

if TYPE_CHECKING:  # annotations only: the handlers package imports this module
    from mailbot.handlers.base import Outcome

DECISIONS = ("approve", "reject", "discard")

# Shown to facilitators (template `held.reason`) in the community's language; keys are rule names.
REASON_TEXT = {
    "en": {
        "non-member": "the sender is not a member",
        "too-big": "the message is over the size limit",
        "blocked-attachment": "it carries an attachment type that is not allowed",
        "first-post": "first post of a new member",
        "post-rate-limit": "the sender posted too often in a short time",
        "join-request": "asks to join the community",
    },
    "th": {
        "non-member": "ผู้ส่งยังไม่เป็นสมาชิก",
        "too-big": "อีเมลมีขนาดใหญ่เกินกำหนด",
        "blocked-attachment": "มีไฟล์แนบประเภทที่ไม่อนุญาต",
        "first-post": "โพสต์แรกของสมาชิกใหม่",
        "post-rate-limit": "ผู้ส่งโพสต์ถี่เกินไปในเวลาสั้น ๆ",
        "join-request": "ขอเข้าร่วมชุมชน",
    },
}


class HeldError(ValueError):
    """The held item cannot be decided; `reason` is a stable id (unknown, bad-action, decided, expired,
    no-message) a caller may word in the community's language; the message is the English one."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def reason_text(reason: str, lang: str) -> str:
    return REASON_TEXT.get(lang, REASON_TEXT["en"]).get(reason, reason)


def moderators(session: Session, community_id: int) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Member.id, Member.email).where(
            Member.community_id == community_id,
            Member.status == "active",
            Member.role.in_(roles_with("approve-held")),
        )
    ).all()
    return [(mid, email) for mid, email in rows]


def hold(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    pol: Policy,
    sender: str,
    subject: str,
    excerpt: str,
    reason: str,
    now: datetime,
    record: Message | None,
    kind: str = "post",
    sender_name: str = "",
) -> HeldItem:
    """Store the held item and tell the facilitators (at most once per sender per notice period)."""
    item = HeldItem(
        community_id=community_row.id,
        kind=kind,
        message_id=record.id if record is not None else None,
        token=new_token(),
        sender=sender,
        subject=subject,
        reason=reason,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(days=pol.held_expiry_days),
        decided_at=None,
        decided_by="",
        note="",
    )
    session.add(item)
    session.flush()
    people = moderators(session, community_row.id)
    interval = timedelta(hours=pol.notice_interval_hours)
    # One spammer must not become a storm in the facilitators' inboxes: the first hold per
    # period is mailed, the rest wait in `mailbot held list` (and still expire on time).
    if people and not recently_noticed(session, community_row.id, sender, "held-for-moderation", now - interval):
        session.add(NoticeLog(community_id=community_row.id, address=sender, kind="held-for-moderation", sent_at=now))
        shown = f"{sender_name} <{sender}>" if sender_name else sender
        send_mail(
            session,
            renderer,
            community=community,
            community_row=community_row,
            to=[email for _, email in people],
            template="held-for-moderation",
            kind="held-for-moderation",
            now=now,
            auto_submitted="auto-generated",
            source_message_id=record.id if record is not None else None,
            held={
                "sender": shown,
                "subject": subject,
                "reason": reason_text(reason, community.language),
                "excerpt": excerpt,
                "token": item.token,
                "expires_at": item.expires_at,
            },
        )
    return item


def find(session: Session, community_id: int, token_or_id: str) -> HeldItem:
    key = token_or_id.strip().lower()
    query = select(HeldItem).where(HeldItem.community_id == community_id)
    item = session.scalar(
        query.where(HeldItem.id == int(key)) if key.isdigit() else query.where(HeldItem.token == key)
    )
    if item is None:
        raise HeldError("unknown", f"no held item {token_or_id[:40]!r}")
    return item


def _tell_sender(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    item: HeldItem,
    decision: str,
    note: str,
    now: datetime,
    interval: timedelta,
) -> None:
    send_notice(
        session,
        renderer,
        community=community,
        community_row=community_row,
        to=item.sender,
        template="held-decision",
        kind=f"held-{decision}",
        now=now,
        interval=interval,
        source_message_id=item.message_id,
        decision=decision,
        held={"subject": item.subject, "kind": item.kind},
        note=note,
    )


def decide(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    pol: Policy,
    item: HeldItem,
    action: str,
    by: str,
    note: str,
    now: datetime,
    clock: Clock,
    release: Callable[[Message], Outcome],
) -> str:
    """Apply approve/reject/discard to a pending item; returns a one-line summary."""
    if action not in DECISIONS:
        raise HeldError("bad-action", f"unknown decision {action!r}")
    if item.status != "pending":
        who = f" by {item.decided_by}" if item.decided_by else ""
        raise HeldError("decided", f"held item {item.token} was already {item.status}{who}")
    if item.expires_at <= now:
        raise HeldError("expired", f"held item {item.token} expired on {item.expires_at:%Y-%m-%d}")
    record = session.get(Message, item.message_id) if item.message_id else None
    item.decided_at, item.decided_by, item.note = now, by, note[:2000]
    if action == "approve":
        item.status = "approved"
        if item.kind == "subscription":
            member, _created = members_mod.add(session, community_row, item.sender, clock)
            _welcome(session, renderer, community=community, community_row=community_row, member=member, now=now)
            return f"approved: {item.sender} joined"
        if record is None:
            raise HeldError("no-message", f"held item {item.token} has no stored message")
        # Handled as if it had not been held: a question opens its thread, a reply joins one.
        outcome = release(record)
        record.reason = f"approved by {by}; {outcome.reason}"[:2000]
        return f"approved: {item.subject!r} from {item.sender}: {outcome.reason}"
    if action == "reject":
        item.status = "rejected"
        if record is not None:
            record.status, record.reason = "ignored", f"rejected by {by}: {note}"[:2000]
        _tell_sender(
            session, renderer, community=community, community_row=community_row, item=item,
            decision="rejected", note=note, now=now, interval=timedelta(minutes=1),
        )
        return f"rejected: {item.subject!r} from {item.sender}" + (f" ({note})" if note else "")
    item.status = "discarded"
    if record is not None:
        record.status, record.reason = "ignored", f"discarded by {by}"
    return f"discarded: {item.subject!r} from {item.sender}"


def _welcome(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    member: Member,
    now: datetime,
) -> None:
    send_mail(
        session,
        renderer,
        community=community,
        community_row=community_row,
        to=[member.email],
        template="welcome",
        kind="welcome",
        now=now,
        auto_submitted="auto-generated",
        member={"name": member.name or member.email.split("@")[0], "email": member.email},
    )


welcome = _welcome


def expire(
    session: Session,
    renderer: Renderer,
    *,
    community: CommunitySettings,
    community_row: Community,
    pol: Policy,
    now: datetime,
) -> int:
    """Expire pending items past their date and tell each sender once; returns how many expired."""
    due = session.scalars(
        select(HeldItem).where(
            HeldItem.community_id == community_row.id,
            HeldItem.status == "pending",
            HeldItem.expires_at <= now,
        )
    ).all()
    for item in due:
        item.status, item.decided_at, item.decided_by = "expired", now, "expiry"
        record = session.get(Message, item.message_id) if item.message_id else None
        if record is not None:
            record.status, record.reason = "ignored", "held post expired without a decision"
        _tell_sender(
            session, renderer, community=community, community_row=community_row, item=item,
            decision="expired", note="", now=now, interval=timedelta(hours=pol.notice_interval_hours),
        )
    return len(due)


def pending(session: Session, community_id: int) -> list[HeldItem]:
    return list(
        session.scalars(
            select(HeldItem)
            .where(HeldItem.community_id == community_id, HeldItem.status == "pending")
            .order_by(HeldItem.created_at)
        )
    )
