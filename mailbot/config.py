"""Deployment settings: one TOML file plus `MAILBOT_SECTION__KEY` environment overrides.

Everything has an embedded default so `mailbot run` works with no file at all (SQLite, SMTP
listener on 127.0.0.1:2525, outbound mail written to a Maildir).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "MAILBOT_"
ROLES = ("member", "facilitator", "scribe", "sponsor", "admin")
DELIVERY_MODES = ("each", "daily", "weekly", "none")
# Programs and scripts: the attachment types a community blocks unless it says otherwise.
DEFAULT_BLOCKED_TYPES = (
    "exe", "bat", "cmd", "com", "scr", "pif", "vbs", "vbe", "js", "jse", "wsf", "wsh", "msi",
    "msp", "hta", "cpl", "jar", "ps1", "lnk", "iso", "img", "reg", "dll",
)


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


@dataclass
class DatabaseSettings:
    url: str = ""  # empty: SQLite file inside paths.data_dir
    echo: bool = False


@dataclass
class ImapSettings:
    host: str = ""  # empty: IMAP is not used
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    processed_folder: str = "mailbot/processed"
    failed_folder: str = "mailbot/failed"
    after_processing: str = "move"  # move | flag
    idle: bool = True
    poll_seconds: float = 60.0
    idle_seconds: float = 300.0  # re-issue IDLE well before servers' 30-minute cut-off
    fetch_batch: int = 50
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def account_key(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


@dataclass
class SmtpSettings:
    host: str = ""  # empty: write outbound mail to paths.outbound_maildir instead
    port: int = 25
    ssl: bool = False
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    connections: int = 4  # parallel SMTP connections for large fan-outs
    batch_size: int = 100  # recipients per SMTP transaction when VERP is off
    inflight_per_connection: int = 2  # envelopes per connection between status commits
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 600.0
    give_up_hours: float = 72.0
    poll_seconds: float = 2.0  # how often the delivery loop looks for due rows when idle
    gather_seconds: float = 0.02  # under load, posts arriving this close together share a round

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass
class InboundSmtpSettings:
    enabled: bool | None = None  # None: on when IMAP is not configured
    host: str = "127.0.0.1"
    port: int = 2525
    lmtp: bool = False
    max_message_bytes: int = 30 * 1024 * 1024


@dataclass
class PathSettings:
    data_dir: str = "mailbot-data"
    rules_dir: str = ""  # empty: the rules/ folder shipped with mailbot
    templates_dir: str = ""  # empty: the digests/ folder shipped with mailbot
    outbound_maildir: str = ""  # empty: <data_dir>/outbound

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    def resolved_rules_dir(self) -> Path:
        return Path(self.rules_dir).expanduser() if self.rules_dir else REPO_ROOT / "rules"

    def resolved_templates_dir(self) -> Path:
        return Path(self.templates_dir).expanduser() if self.templates_dir else REPO_ROOT / "digests"

    def resolved_outbound_maildir(self) -> Path:
        if self.outbound_maildir:
            return Path(self.outbound_maildir).expanduser()
        return self.resolved_data_dir() / "outbound"


@dataclass
class LimitSettings:
    max_message_bytes: int = 10 * 1024 * 1024
    posts_per_minute: int = 5  # per sender; 0: no limit
    posts_per_hour: int = 30
    commands_per_minute: int = 10
    commands_per_hour: int = 60
    notice_interval_hours: float = 24.0  # at most one notice of a kind per sender per period
    command_lines: int = 10


@dataclass
class CommunitySettings:
    slug: str
    address: str
    name: str = ""
    subject_prefix: str = ""
    timezone: str = "Asia/Bangkok"
    language: str = "th"  # th | en
    reply_to: str = "list"  # list | sender
    dmarc_rewrite: bool = False
    verp: bool = True
    echo_to_sender: bool = False
    members_only: bool = True
    archive_url: str = ""
    thread_tag: str = "#Q{number}"
    scribe_review: bool = False
    related_entries: str = "private"  # private | append | off
    imap: ImapSettings | None = None
    # KM tip of the day (times are local to `timezone`)
    tip_enabled: bool = True
    tip_time: str = "08:30"
    tip_skip_weekends: bool = False
    tip_holidays: list[str] = field(default_factory=list)  # ISO dates, e.g. "2026-12-05"
    # weekly summary for sponsors
    summary_day: str = "mon"
    summary_time: str = "08:00"
    summary_trend_weeks: int = 8
    summary_roles: list[str] = field(default_factory=lambda: ["sponsor"])
    # member digests, nudges and reminders
    digest_time: str = "07:00"
    weekly_digest_day: str = "mon"
    nudge_hours: int = 48  # 0 turns unanswered-question nudges off
    nudge_experts: int = 3  # members who answered most in the topic, besides facilitators
    # The asker of an answered, unsolved question is asked once, this many days after the last
    # answer (or at once when they thank the group), whether an answer solved it; 0 = off.
    accept_offer_days: int = 3
    silent_reminder_days: int = 0  # 0 = off
    silent_attention_days: int = 60  # "members silent for long" in the weekly summary
    reminder_day: int = 1  # monthly mail (silent reminder, knowledge review) goes out on this day
    reminder_time: str = "09:00"
    kb_review_months: int = 12  # entries unconfirmed this long become "may be out of date"; 0 = off
    # joining, moderation and trust
    join_policy: str = "open"  # open | domains | approval
    allowed_domains: list[str] = field(default_factory=list)
    moderate_first_posts: bool = False
    blocked_attachment_types: list[str] = field(default_factory=lambda: list(DEFAULT_BLOCKED_TYPES))
    allowed_attachment_types: list[str] = field(default_factory=list)  # non-empty: only these pass
    require_dmarc_for_privileged: bool = False
    trust_authenticated_senders: bool = True  # DMARC/DKIM pass lets state changes skip confirming
    authserv_ids: list[str] = field(default_factory=list)  # our receiving server's authserv-id(s)
    held_expiry_days: float = 7.0
    token_ttl_hours: float = 72.0
    # bounce scores
    bounce_threshold: float = 5.0
    bounce_half_life_days: float = 7.0
    bounce_probe_interval_days: float = 7.0
    bounce_probe_wait_days: float = 3.0
    bounce_max_probes: int = 3

    @property
    def local_part(self) -> str:
        return self.address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.split("@", 1)[1]

    @property
    def request_address(self) -> str:
        return f"{self.local_part}-request@{self.domain}"

    @property
    def bounces_address(self) -> str:
        return f"{self.local_part}-bounces@{self.domain}"

    @property
    def owner_address(self) -> str:
        return f"{self.local_part}-owner@{self.domain}"

    @property
    def list_id(self) -> str:
        return f"{self.local_part}.{self.domain}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def prefix(self) -> str:
        return self.subject_prefix or f"[{self.slug.upper()}]"

    @property
    def display_name(self) -> str:
        return self.name or self.slug


@dataclass
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    inbound_smtp: InboundSmtpSettings = field(default_factory=InboundSmtpSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    communities: list[CommunitySettings] = field(default_factory=list)
    log_level: str = "INFO"
    source_file: str = ""

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.paths.resolved_data_dir() / 'mailbot.db'}"

    @property
    def inbound_smtp_enabled(self) -> bool:
        if self.inbound_smtp.enabled is None:
            return not self.imap.enabled and not any(c.imap for c in self.communities)
        return self.inbound_smtp.enabled

    def community(self, slug: str) -> CommunitySettings:
        for c in self.communities:
            if c.slug == slug:
                return c
        known = ", ".join(c.slug for c in self.communities) or "none"
        raise ConfigError(f"unknown community {slug!r} (configured: {known})")


DEMO_COMMUNITY = CommunitySettings(
    slug="km-it",
    address="km-it@localhost",
    name="ชุมชนนักปฏิบัติ KM-IT",
    subject_prefix="[KM-IT]",
)


# [section] tables of the settings file (and MAILBOT_<SECTION>__<KEY> variables).
SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "imap": ImapSettings,
    "smtp": SmtpSettings,
    "inbound_smtp": InboundSmtpSettings,
    "paths": PathSettings,
    "limits": LimitSettings,
}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build dataclass `cls` from `data`, rejecting unknown keys and wrong types by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(fields))})")
        if key == "imap" and cls is CommunitySettings:
            kwargs[key] = _build(ImapSettings, value, f"{where}.imap") if value else None
            continue
        f = fields[key]
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if default is not dataclasses.MISSING and default is not None:
            expected = type(default)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(
                    f"{where}.{key}: expected {expected.__name__}, got {type(value).__name__}"
                )
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where}: {exc}") from None


def _coerce_env(raw: str, current: Any) -> Any:
    if isinstance(current, bool) or current is None:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        if current is None:
            return raw
        raise ConfigError(f"expected true/false, got {raw!r}")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    return raw


def apply_env(data: dict[str, Any], environ: dict[str, str]) -> None:
    """Overlay `MAILBOT_IMAP__PASSWORD=...` style variables onto the parsed TOML tree."""
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in SECTIONS:
            continue
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        if key not in fields:
            raise ConfigError(f"{name}: {section} has no key {key!r}")
        current = data.get(section, {}).get(key, fields[key].default)
        try:
            data.setdefault(section, {})[key] = _coerce_env(value, current)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None


def validate(settings: Settings) -> None:
    seen_slugs: set[str] = set()
    seen_addresses: set[str] = set()
    for c in settings.communities:
        where = f"community {c.slug!r}"
        if not c.slug or not c.slug.replace("-", "").isalnum() or c.slug != c.slug.lower():
            raise ConfigError(f"{where}: slug must be lower-case letters, digits and '-'")
        if c.slug in seen_slugs:
            raise ConfigError(f"{where}: slug used twice")
        seen_slugs.add(c.slug)
        if c.address.count("@") != 1 or not all(c.address.split("@")):
            raise ConfigError(f"{where}: address {c.address!r} is not an e-mail address")
        c.address = c.address.lower()
        if c.address in seen_addresses:
            raise ConfigError(f"{where}: address {c.address} used by two communities")
        seen_addresses.add(c.address)
        try:
            ZoneInfo(c.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: unknown timezone {c.timezone!r}") from None
        if c.language not in ("th", "en"):
            raise ConfigError(f"{where}: language must be 'th' or 'en'")
        if c.reply_to not in ("list", "sender"):
            raise ConfigError(f"{where}: reply_to must be 'list' or 'sender'")
        if c.join_policy not in ("open", "domains", "approval"):
            raise ConfigError(f"{where}: join_policy must be open, domains or approval")
        if c.related_entries not in ("private", "append", "off"):
            raise ConfigError(f"{where}: related_entries must be private, append or off")
        if "{number}" not in c.thread_tag:
            raise ConfigError(f"{where}: thread_tag must contain {{number}}")
        if c.kb_review_months < 0:
            raise ConfigError(f"{where}: kb_review_months must be 0 (off) or a number of months")
        if c.accept_offer_days < 0:
            raise ConfigError(f"{where}: accept_offer_days must be 0 (off) or a number of days")
    for imap in [settings.imap] + [c.imap for c in settings.communities if c.imap]:
        if imap.after_processing not in ("move", "flag"):
            raise ConfigError("imap.after_processing must be 'move' or 'flag'")
        if imap.ssl and imap.starttls:
            raise ConfigError("imap: choose ssl or starttls, not both")
    if settings.smtp.ssl and settings.smtp.starttls:
        raise ConfigError("smtp: choose ssl or starttls, not both")
    if min(settings.smtp.batch_size, settings.smtp.connections, settings.smtp.inflight_per_connection) < 1:
        raise ConfigError("smtp: batch_size, connections and inflight_per_connection must be at least 1")
    if not 0 <= settings.smtp.gather_seconds <= 1:
        raise ConfigError("smtp.gather_seconds must be between 0 (off) and 1")


def load(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read settings from `path` (or $MAILBOT_CONFIG, or embedded defaults) plus the environment."""
    env = dict(os.environ if environ is None else environ)
    path = path or env.get("MAILBOT_CONFIG") or None
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    apply_env(data, env)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table")
            kwargs[key] = _build(SECTIONS[key], value, key)
        elif key == "community":
            if not isinstance(value, list):
                raise ConfigError("communities are written as [[community]] tables")
            kwargs["communities"] = [
                _build(CommunitySettings, c, f"community[{i}]") for i, c in enumerate(value)
            ]
        elif key == "log_level":
            kwargs["log_level"] = str(value)
        else:
            raise ConfigError(f"unknown top-level key {key!r}")
    settings = Settings(**kwargs, source_file=str(path or ""))
    if not settings.communities:
        settings.communities = [dataclasses.replace(DEMO_COMMUNITY)]
    validate(settings)
    return settings
