"""The moderation knobs of one community, gathered from its settings in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.config import CommunitySettings, Settings


@dataclass(frozen=True)
class Policy:
    join_policy: str  # open | domains | approval
    allowed_domains: tuple[str, ...]
    moderate_first_posts: bool
    blocked_attachment_types: tuple[str, ...]  # extensions ('exe') or MIME types ('application/x-msdownload')
    allowed_attachment_types: tuple[str, ...]  # when non-empty: only these pass
    require_dmarc_for_privileged: bool
    trust_authenticated_senders: bool  # authres pass lets state changes skip the round-trip
    authserv_ids: tuple[str, ...]  # our receiving server's authserv-id(s); empty: topmost header only
    held_expiry_days: float
    token_ttl_hours: float
    bounce_threshold: float
    bounce_half_life_days: float
    bounce_probe_interval_days: float
    bounce_probe_wait_days: float
    bounce_max_probes: int
    posts_per_minute: int
    posts_per_hour: int
    commands_per_minute: int
    commands_per_hour: int
    command_lines: int
    notice_interval_hours: float
    max_message_bytes: int


def _tuple(value: list[str]) -> tuple[str, ...]:
    return tuple(str(v).strip().lower().lstrip(".") for v in value if str(v).strip())


def policy(settings: Settings, community: CommunitySettings) -> Policy:
    c, limits = community, settings.limits
    return Policy(
        join_policy=c.join_policy,
        allowed_domains=_tuple(c.allowed_domains),
        moderate_first_posts=c.moderate_first_posts,
        blocked_attachment_types=_tuple(c.blocked_attachment_types),
        allowed_attachment_types=_tuple(c.allowed_attachment_types),
        require_dmarc_for_privileged=c.require_dmarc_for_privileged,
        trust_authenticated_senders=c.trust_authenticated_senders,
        authserv_ids=_tuple(c.authserv_ids),
        held_expiry_days=c.held_expiry_days,
        token_ttl_hours=c.token_ttl_hours,
        bounce_threshold=c.bounce_threshold,
        bounce_half_life_days=c.bounce_half_life_days,
        bounce_probe_interval_days=c.bounce_probe_interval_days,
        bounce_probe_wait_days=c.bounce_probe_wait_days,
        bounce_max_probes=c.bounce_max_probes,
        posts_per_minute=limits.posts_per_minute,
        posts_per_hour=limits.posts_per_hour,
        commands_per_minute=limits.commands_per_minute,
        commands_per_hour=limits.commands_per_hour,
        command_lines=limits.command_lines,
        notice_interval_hours=limits.notice_interval_hours,
        max_message_bytes=limits.max_message_bytes,
    )
