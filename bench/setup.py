"""Building a mailbot App for a benchmark: settings on the bench servers, members inserted in bulk."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from sqlalchemy import insert

from mailbot.app import App
from mailbot.clock import SystemClock
from mailbot.config import (
    CommunitySettings,
    ImapSettings,
    LimitSettings,
    Settings,
    SmtpSettings,
    validate,
)
from mailbot.mail.verp import new_member_token
from mailbot.store.db import transaction
from mailbot.store.models import Member
from mailbot.store.queries import community_row

LIST = "km-it@example.org"
# A benchmark posts far faster than any member: per-sender posting limits would hold the mail and
# measure the hold path instead. Only fields the installed LimitSettings has are set.
NO_RATE_LIMITS = {"posts_per_hour": 0, "posts_per_minute": 0}  # 0: no limit


def member_email(i: int) -> str:
    return f"member{i:06d}@example.org"


def settings(
    db_url: str,
    data_dir: Path,
    *,
    smtp_port: int | None = None,
    imap: ImapSettings | None = None,
    verp: bool = True,
) -> Settings:
    s = Settings()
    s.database.url = db_url
    s.paths.data_dir = str(data_dir)
    s.communities = [
        CommunitySettings(slug="km-it", address=LIST, name="ชุมชน KM-IT", subject_prefix="[KM-IT]", verp=verp)
    ]
    if smtp_port:
        s.smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, timeout=30)
    if imap is not None:
        s.imap = imap
    s.inbound_smtp.enabled = False
    for name, value in NO_RATE_LIMITS.items():
        if name in {f.name for f in dataclasses.fields(s.limits)}:
            setattr(s.limits, name, value)
    s.log_level = "WARNING"
    validate(s)
    return s


def app(s: Settings) -> App:
    # One log line per message is right for operations, but at 10,000 messages it is the
    # benchmark's own output; keep warnings only.
    logging.getLogger("mailbot").setLevel(logging.WARNING)
    a = App(s, clock=SystemClock())
    a.prepare()
    return a


def add_members(a: App, count: int) -> list[str]:
    """Insert `count` active each-post members in one statement (the CLI path flushes per member)."""
    emails = [member_email(i) for i in range(count)]
    now = a.clock.now()
    with transaction(a.sessions) as session:
        cid = community_row(session, "km-it").id
        rows = [
            {
                "community_id": cid, "email": e, "name": f"สมาชิก {i}", "section": f"ฝ่าย {i % 12}",
                "role": "member", "delivery": "each", "status": "active", "verp_token": new_member_token(),
                "bounce_score": 0.0, "disabled_reason": "", "intro": "", "expertise": "", "joined_at": now,
            }  # fmt: skip
            for i, e in enumerate(emails)
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(Member), rows[start : start + 5000])
    return emails


def limits_toml() -> str:
    """The same limits as a [limits] table, for configs of a `mailbot run` process."""
    known = {f.name for f in dataclasses.fields(LimitSettings)}
    lines = [f"{k} = {v}" for k, v in NO_RATE_LIMITS.items() if k in known]
    return "[limits]\n" + "\n".join(lines) + "\n"


def imap_settings(host: str, port: int, user: str, password: str) -> ImapSettings:
    return ImapSettings(
        host=host, port=port, ssl=False, username=user, password=password,
        poll_seconds=1.0, idle_seconds=60.0, timeout=30.0,
    )  # fmt: skip
