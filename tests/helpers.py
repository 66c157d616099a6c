"""Shared test helpers: settings and apps wired to the real test servers, and member mail to feed them."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from mailbot.app import App
from mailbot.clock import FrozenClock
from mailbot.config import CommunitySettings, ImapSettings, Settings, SmtpSettings, validate
from mailbot.store.db import transaction
from mailbot.store.queries import community_row

START = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 09:00 in Bangkok
_counter = itertools.count(1)


def settings_for(
    db_url: str,
    tmp_path: Path,
    *,
    smtp_port: int | None = None,
    imap: ImapSettings | None = None,
    communities: list[CommunitySettings] | None = None,
    **community: Any,
) -> Settings:
    base = CommunitySettings(
        slug="km-it", address="km-it@example.org", name="ชุมชน KM-IT", subject_prefix="[KM-IT]"
    )
    s = Settings()
    s.database.url = db_url
    s.paths.data_dir = str(tmp_path / "data")
    s.communities = communities or [dataclasses.replace(base, **community)]
    if smtp_port:
        s.smtp = SmtpSettings(
            host="127.0.0.1", port=smtp_port, retry_base_seconds=60, retry_max_seconds=600, timeout=5
        )
    if imap is not None:
        s.imap = imap
    s.inbound_smtp.enabled = False
    # Tests post many messages from one sender in a moment; rate limits have their own tests.
    s.limits.posts_per_minute = s.limits.posts_per_hour = 1_000_000
    validate(s)
    return s


def make_app(settings: Settings, clock: FrozenClock | None = None, **kwargs: Any) -> App:
    app = App(settings, clock=clock or FrozenClock(START), **kwargs)
    app.prepare()
    return app


def add_members(app: App, *people: tuple[str, str] | tuple[str, str, str], slug: str = "km-it") -> None:
    from mailbot import members

    with transaction(app.sessions) as session:
        row = community_row(session, slug)
        for person in people:
            email, name = person[0], person[1]
            role = person[2] if len(person) > 2 else "member"
            members.add(session, row, email, app.clock, name=name, role=role)


def member_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = "km-it@example.org",
    name: str = "",
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(START)
    msg["Message-ID"] = message_id or make_msgid(f"t{next(_counter)}", domain=sender.split("@")[1])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    return msg.as_bytes()
