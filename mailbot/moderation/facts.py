"""Facts hook for moderation: how much this sender has posted, loaded once before classification."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.orm import Session

from mailbot.classify.facts import Facts, FactsHook
from mailbot.clock import Clock
from mailbot.config import Settings
from mailbot.mail.parse import ParsedMessage
from mailbot.moderation.policy import policy
from mailbot.moderation.predicates import (
    POST_LIMITS,
    POSTS_LAST_HOUR,
    POSTS_LAST_MINUTE,
    PRIOR_POSTS,
)
from mailbot.store.models import POST_KINDS, Community, Message


def moderation_facts_hook(settings: Settings, clock: Clock) -> FactsHook:
    """The hook, with the app's settings (rate limits) and clock (hooks get neither by themselves)."""

    def hook(session: Session, community: Community, msg: ParsedMessage, facts: Facts) -> Facts:
        facts = moderation_facts(session, community, msg, facts, now=clock.now())
        if facts.community is not None and facts.route.role == "post":
            pol = policy(settings, facts.community)
            extra = {**facts.extra, POST_LIMITS: (pol.posts_per_minute, pol.posts_per_hour)}
            facts = dataclasses.replace(facts, extra=extra)
        return facts

    return hook


def moderation_facts(
    session: Session, community: Community, msg: ParsedMessage, facts: Facts, now: datetime | None = None
) -> Facts:
    now = now or datetime.now(UTC)
    if facts.route.role != "post" or not msg.sender_email:
        return facts
    extra = dict(facts.extra)
    if facts.member is not None and facts.community is not None and facts.community.moderate_first_posts:
        # Only "has this member ever had a post through?" matters: stop at the first one.
        prior = session.scalar(_PRIOR_POST, {"member_id": facts.member.id})
        extra[PRIOR_POSTS] = 0 if prior is None else 1
    # Both windows in one range scan of this sender's last hour (index: community, sender, time).
    last_hour, last_minute = session.execute(
        _RECENT_POSTS,
        {
            "community_id": community.id,
            "sender": msg.sender_email,
            "hour_ago": now - timedelta(hours=1),
            "minute_ago": now - timedelta(minutes=1),
        },
    ).one()
    extra[POSTS_LAST_HOUR], extra[POSTS_LAST_MINUTE] = int(last_hour), int(last_minute)
    return dataclasses.replace(facts, extra=extra)


# Asked for every post: built once (building them cost more than running them).
_PRIOR_POST = (
    select(Message.id)
    .where(
        Message.member_id == bindparam("member_id"),
        Message.status == "processed",
        Message.kind.in_(POST_KINDS),
    )
    .limit(1)
)
_RECENT_POSTS = select(
    func.count(Message.id),
    func.coalesce(
        func.sum(case((Message.received_at > bindparam("minute_ago", type_=Message.received_at.type), 1), else_=0)), 0
    ),
).where(
    Message.community_id == bindparam("community_id"),
    Message.from_email == bindparam("sender"),
    Message.received_at > bindparam("hour_ago", type_=Message.received_at.type),
    Message.address_role == "post",
)
