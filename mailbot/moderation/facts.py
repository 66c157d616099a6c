"""Facts hook for moderation: how much this sender has posted, loaded once before classification."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, bindparam, case, func, select
from sqlalchemy.orm import Session

from mailbot.classify.chain import RuleChain
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
    RATE_PREDICATE,
)
from mailbot.store.models import POST_KINDS, Community, Message


def post_rate_cap(settings: Settings, rules: RuleChain) -> int:
    """The largest posting limit any rule can apply (settings.limits, or a rule's own `per_minute`
    / `per_hour`): counting a sender's recent posts further than this changes no decision.
    0: every limit is off (0 means no limit), so nothing needs counting."""
    limits = [settings.limits.posts_per_minute, settings.limits.posts_per_hour]
    for rule in rules.rules:
        for test in rule.tests:
            if test.predicate == RATE_PREDICATE:  # the loader checked these are integers
                limits += [int(test.params.get("per_minute", 0)), int(test.params.get("per_hour", 0))]
    return max(0, *limits)


def moderation_facts_hook(settings: Settings, clock: Clock, rules: RuleChain) -> FactsHook:
    """The hook, with the app's settings (rate limits), clock and rules (hooks get none by themselves)."""
    cap = post_rate_cap(settings, rules)
    # Each community's (per minute, per hour) limits, from its policy once: settings do not change
    # while the app runs, and building the whole policy per post was work on the hot path.
    limits: dict[str, tuple[int, int]] = {}

    def hook(session: Session, community: Community, msg: ParsedMessage, facts: Facts) -> Facts:
        facts = moderation_facts(session, community, msg, facts, now=clock.now(), cap=cap)
        if facts.community is not None and facts.route.role == "post":
            slug = facts.community.slug
            if slug not in limits:
                pol = policy(settings, facts.community)
                limits[slug] = (pol.posts_per_minute, pol.posts_per_hour)
            facts = dataclasses.replace(facts, extra={**facts.extra, POST_LIMITS: limits[slug]})
        return facts

    return hook


def moderation_facts(
    session: Session,
    community: Community,
    msg: ParsedMessage,
    facts: Facts,
    now: datetime | None = None,
    *,
    cap: int,
) -> Facts:
    """The sender's history the moderation rules ask about. Recent posts are counted up to `cap`
    (post_rate_cap): so a post costs the same however much its sender posted before (a flood,
    a loop, a bulk import), and nothing when no limit is on."""
    now = now or datetime.now(UTC)
    if facts.route.role != "post" or not msg.sender_email:
        return facts
    extra = dict(facts.extra)
    if facts.member is not None and facts.community is not None and facts.community.moderate_first_posts:
        # Only "has this member ever had a post through?" matters: stop at the first one.
        prior = session.scalar(_PRIOR_POST, {"member_id": facts.member.id})
        extra[PRIOR_POSTS] = 0 if prior is None else 1
    if cap > 0:
        # Both windows in one scan of this sender's last hour, newest first (index: community,
        # sender, role, time), stopping after `cap` posts: the minute's posts are the newest, so
        # both counts are exact up to the cap, and a limit is only ever compared with them.
        last_hour, last_minute = session.execute(
            _RECENT_POSTS,
            {
                "community_id": community.id,
                "sender": msg.sender_email,
                "hour_ago": now - timedelta(hours=1),
                "minute_ago": now - timedelta(minutes=1),
                "cap": cap,
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
_RECENT = (
    select(Message.received_at)
    .where(
        Message.community_id == bindparam("community_id"),
        Message.from_email == bindparam("sender"),
        Message.address_role == "post",
        Message.received_at > bindparam("hour_ago", type_=Message.received_at.type),
    )
    .order_by(Message.received_at.desc())
    .limit(bindparam("cap", type_=Integer))
    .subquery()
)
_RECENT_POSTS = select(
    func.count(),
    func.coalesce(
        func.sum(case((_RECENT.c.received_at > bindparam("minute_ago", type_=Message.received_at.type), 1), else_=0)),
        0,
    ),
).select_from(_RECENT)
