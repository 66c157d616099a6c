"""The one place moderation reads its community settings, with defaults for fields config.py may lack yet.

Every moderation knob goes through `policy(settings, community)` so the fields can move into
CommunitySettings / LimitSettings in one go without touching the callers.
"""

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


DEFAULT_BLOCKED = (
    "exe", "bat", "cmd", "com", "scr", "pif", "vbs", "vbe", "js", "jse", "wsf", "wsh", "msi",
    "msp", "hta", "cpl", "jar", "ps1", "lnk", "iso", "img", "reg", "dll",
)


def _tuple(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, list | tuple):
        return default
    return tuple(str(v).strip().lower().lstrip(".") for v in value if str(v).strip())


def policy(settings: Settings, community: CommunitySettings) -> Policy:
    c, limits = community, settings.limits

    def get(name: str, default: object) -> object:
        return getattr(c, name, default)

    return Policy(
        join_policy=str(get("join_policy", "open")),
        allowed_domains=_tuple(get("allowed_domains", None), ()),
        moderate_first_posts=bool(get("moderate_first_posts", False)),
        blocked_attachment_types=_tuple(get("blocked_attachment_types", None), DEFAULT_BLOCKED),
        allowed_attachment_types=_tuple(get("allowed_attachment_types", None), ()),
        require_dmarc_for_privileged=bool(get("require_dmarc_for_privileged", False)),
        trust_authenticated_senders=bool(get("trust_authenticated_senders", True)),
        authserv_ids=_tuple(get("authserv_ids", None), ()),
        held_expiry_days=float(get("held_expiry_days", 7.0)),  # type: ignore[arg-type]
        token_ttl_hours=float(get("token_ttl_hours", 72.0)),  # type: ignore[arg-type]
        bounce_threshold=float(get("bounce_threshold", 5.0)),  # type: ignore[arg-type]
        bounce_half_life_days=float(get("bounce_half_life_days", 7.0)),  # type: ignore[arg-type]
        bounce_probe_interval_days=float(get("bounce_probe_interval_days", 7.0)),  # type: ignore[arg-type]
        bounce_probe_wait_days=float(get("bounce_probe_wait_days", 3.0)),  # type: ignore[arg-type]
        bounce_max_probes=int(get("bounce_max_probes", 3)),  # type: ignore[call-overload]
        posts_per_minute=int(getattr(limits, "posts_per_minute", 5)),
        posts_per_hour=int(limits.posts_per_hour),
        commands_per_minute=int(getattr(limits, "commands_per_minute", 10)),
        commands_per_hour=int(limits.commands_per_hour),
        command_lines=int(limits.command_lines),
        notice_interval_hours=float(limits.notice_interval_hours),
        max_message_bytes=int(limits.max_message_bytes),
    )
