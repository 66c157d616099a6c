"""Shared helpers for the command, moderation, bounce and abuse tests: a real App on a real database.

No tests here; the helpers build mail as MUAs send it and read back what the bot queued.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailbot import app as app_mod
from mailbot import members as members_mod
from mailbot.clock import FrozenClock
from mailbot.config import (
    CommunitySettings,
    DatabaseSettings,
    LimitSettings,
    PathSettings,
    Settings,
)
from mailbot.store.db import transaction
from mailbot.store.models import Member, Outbox, OutboxRecipient
from mailbot.store.queries import community_row

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # Monday 09:00 in Bangkok



@dataclass
class Sent:
    kind: str
    to: list[str]
    msg: Message
    verp: bool

    @property
    def subject(self) -> str:
        return str(self.msg["Subject"] or "")

    @property
    def text(self) -> str:
        for part in self.msg.walk():
            if part.get_content_type() == "text/plain":
                return str(part.get_content())  # type: ignore[attr-defined]
        return ""

    @property
    def html(self) -> str:
        for part in self.msg.walk():
            if part.get_content_type() == "text/html":
                return str(part.get_content())  # type: ignore[attr-defined]
        return ""


@dataclass
class Bot:
    app: Any
    clock: FrozenClock
    community: CommunitySettings
    seen: int = 0
    log: list[Any] = field(default_factory=list)

    def member(self, email_: str, role: str = "member", name: str = "") -> None:
        with transaction(self.app.sessions) as session:
            row = community_row(session, self.community.slug)
            members_mod.add(session, row, email_, self.clock, name=name or email_.split("@")[0], role=role)

    def get(self, email_: str) -> Member | None:
        with self.app.sessions() as session:
            return session.scalar(select(Member).where(Member.email == email_))

    def ingest(self, raw: bytes, to: str | None = None) -> Any:
        result = self.app.ingest(raw, source="smtp", source_ref="test", envelope_to=[to] if to else [])
        self.log.append(result)
        return result

    def mail(self, to: str, frm: str, subject: str = "", body: str = "", **headers: str) -> Any:
        return self.ingest(raw_mail(to, frm, subject, body, **headers), to)

    def command(self, frm: str, body: str = "", subject: str = "", **headers: str) -> Any:
        return self.mail(self.community.request_address, frm, subject, body, **headers)

    def post(self, frm: str, subject: str, body: str = "hello", **headers: str) -> Any:
        return self.mail(self.community.address, frm, subject, body, **headers)

    def outbox(self, kind: str | None = None, new: bool = True) -> list[Sent]:
        """Mail queued since the last call (new=True), optionally of one kind."""
        with self.app.sessions() as session:
            rows = session.scalars(select(Outbox).where(Outbox.id > (self.seen if new else 0)).order_by(Outbox.id)).all()
            out = []
            for row in rows:
                to = list(session.scalars(select(OutboxRecipient.address).where(OutboxRecipient.outbox_id == row.id)))
                parsed = email.message_from_bytes(row.data, policy=email.policy.default)
                out.append(Sent(row.kind, to, parsed, row.verp))
            if rows and new:
                self.seen = rows[-1].id
        return [s for s in out if kind is None or s.kind == kind]


def raw_mail(to: str, frm: str, subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg["Date"] = "Mon, 16 Nov 2026 09:00:00 +0700"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body or "\n")
    return msg.as_bytes()


def make_bot(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    language: str = "en",
    limits: LimitSettings | None = None,
    rules_dir: Path | None = None,
    **community_fields: Any,
) -> Bot:
    community = CommunitySettings(
        slug="km-it", address="km-it@example.org", name="KM-IT", subject_prefix="[KM-IT]", language=language
    )
    community = dataclasses.replace(community, **community_fields)
    rules_dir = rules_dir or REPO / "rules"
    settings = Settings(
        database=DatabaseSettings(url=db_url),
        paths=PathSettings(data_dir=str(tmp_path / "data"), rules_dir=str(rules_dir)),
        limits=limits or LimitSettings(),
        communities=[community],
    )
    clock = FrozenClock(START)
    app = app_mod.App(settings, clock=clock)
    app.prepare()
    return Bot(app, clock, community)


@pytest.fixture
def bot(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bot]:
    b = make_bot(db_url, tmp_path, monkeypatch)
    b.member("somchai@example.net", role="facilitator", name="Somchai")
    b.member("suda@example.net", name="Suda")
    b.member("anan@example.net", name="Anan")
    b.outbox()
    try:
        yield b
    finally:
        b.app.engine.dispose()
