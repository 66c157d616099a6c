"""Moderation predicates for the rule chain (blocked attachments, first posts, post rate limits).

Plain functions plus their parameter specs, so mailbot/classify/predicates.py can add them to the
closed PREDICATES set without an import cycle:
    **{name: PredicateSpec(*spec) for name, spec in MODERATION_PREDICATES.items()}
Database-derived inputs come from the `moderation_facts` facts hook (mailbot/moderation/facts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mailbot.classify.facts import Facts
from mailbot.mail.parse import Attachment, ParsedMessage
from mailbot.moderation.policy import _tuple

PRIOR_POSTS = "moderation-prior-posts"  # facts.extra: processed posts by this member before (capped)
POSTS_LAST_MINUTE = "moderation-posts-minute"
POSTS_LAST_HOUR = "moderation-posts-hour"
POST_LIMITS = "moderation-post-limits"  # (per minute, per hour) from settings.limits
RATE_PREDICATE = "sender-over-post-rate"  # its per_minute / per_hour params bound the counting (facts.py)


def _type_keys(a: Attachment) -> set[str]:
    keys = {a.content_type.lower()}
    name = (a.filename or "").lower().strip().rstrip(".")
    if "." in name:
        keys.add(name.rsplit(".", 1)[1])
    return keys


def blocked_attachments(msg: ParsedMessage, blocked: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    """Attachment names (or types) the community does not accept."""
    out = []
    for a in msg.attachments:
        if not a.filename and a.content_type.startswith(("text/", "multipart/", "message/")):
            continue  # body parts, not attachments
        keys = _type_keys(a)
        deny = bool(keys & set(blocked))
        if allowed and not deny:
            deny = not keys & set(allowed)
        if deny:
            out.append(a.filename or a.content_type)
    return out


def _has_blocked_attachment(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    c = facts.community
    if c is None:
        return False
    blocked = _tuple(list(p.get("types") or [])) or _tuple(c.blocked_attachment_types)
    return bool(blocked_attachments(msg, blocked, _tuple(c.allowed_attachment_types)))


def _first_post_of_member(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    # Only when the community asks for it (moderate_first_posts), and only for members.
    if facts.member is None or facts.community is None or not facts.community.moderate_first_posts:
        return False
    return facts.extra.get(PRIOR_POSTS, 1) == 0


def _sender_over_post_rate(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    limits = facts.extra.get(POST_LIMITS, (0, 0))
    default_minute, default_hour = limits if isinstance(limits, tuple) else (0, 0)
    minute = int(p.get("per_minute", default_minute) or 0)
    hour = int(p.get("per_hour", default_hour) or 0)
    seen_m = int(str(facts.extra.get(POSTS_LAST_MINUTE, 0)))
    seen_h = int(str(facts.extra.get(POSTS_LAST_HOUR, 0)))
    return (minute > 0 and seen_m >= minute) or (hour > 0 and seen_h >= hour)


PredicateFn = Callable[[ParsedMessage, Facts, Mapping[str, Any]], bool]

# name -> (function, required params, help, optional params), as classify.predicates.PredicateSpec.
MODERATION_PREDICATES: dict[str, tuple[PredicateFn, dict[str, type], str, dict[str, type]]] = {
    "has-blocked-attachment": (
        _has_blocked_attachment,
        {},
        "an attachment type the community blocks (`types` or community setting)",
        {"types": list},
    ),
    "first-post-of-member": (
        _first_post_of_member,
        {},
        "a member's first post, when the community moderates first posts",
        {},
    ),
    RATE_PREDICATE: (
        _sender_over_post_rate,
        {},
        "sender already posted `per_minute` / `per_hour` times (default: limits)",
        {"per_minute": int, "per_hour": int},
    ),
}
