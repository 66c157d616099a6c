"""Held posts and facilitator decisions by mail and CLI; roles; first posts; blocked attachments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailbot.cli import main as cli_main
from mailbot.moderation.maintenance import tick
from mailbot.moderation.roles import PERMISSIONS, can
from mailbot.store.models import Message
from tests.test_commands_support import Bot, make_bot

pytest_plugins = ("tests.test_commands_support",)  # the `bot` fixture

pytestmark = pytest.mark.timeout(120)


def _held_mail(bot: Bot) -> str:
    [held] = bot.outbox("held-for-moderation")
    assert held.to == ["somchai@example.net"]
    return held.subject


def test_non_member_post_is_held_and_approved_by_reply(bot: Bot) -> None:
    bot.post("guest@example.com", "Our AAR template", "Sharing our template.")
    sent = bot.outbox()
    assert {s.kind for s in sent} == {"nonmember-notice", "held-for-moderation"}
    # The post waits for the facilitator: sent again, it would reach the group twice once approved.
    notice = next(s.text for s in sent if s.kind == "nonmember-notice")
    assert "no need to send it again" in notice and "again." not in notice.replace("send it again", "")
    subject = next(s.subject for s in sent if s.kind == "held-for-moderation")
    assert "moderate " in subject
    bot.command("somchai@example.net", "approve\n\n> quoted held mail: discard", subject=f"Re: {subject}")
    [copy] = bot.outbox("list-copy", new=False)
    assert sorted(copy.to) == ["anan@example.net", "somchai@example.net", "suda@example.net"]
    assert "Our AAR template" in copy.subject


def test_thai_reject_with_reason_tells_the_sender(bot: Bot) -> None:
    bot.post("guest@example.com", "Cheap insurance", "Buy now")
    subject = _held_mail(bot)
    bot.command("somchai@example.net", "ปฏิเสธ ไม่เกี่ยวกับ KM", subject=f"ตอบกลับ: {subject}")
    sent = bot.outbox()
    assert not [s for s in sent if s.kind == "list-copy"]
    [told] = [s for s in sent if s.kind == "held-rejected"]
    assert told.to == ["guest@example.com"] and "ไม่เกี่ยวกับ KM" in told.text


def test_ordinary_member_cannot_approve(bot: Bot) -> None:
    bot.post("guest@example.com", "Spam", "spam")
    subject = _held_mail(bot)
    bot.command("suda@example.net", "approve", subject=f"Re: {subject}")
    sent = bot.outbox()
    assert not [s for s in sent if s.kind == "list-copy"]
    assert "may not do this (approve-held)" in sent[-1].text


def test_decided_once_only_and_discard_is_silent(bot: Bot) -> None:
    bot.post("guest@example.com", "Spam", "spam")
    subject = _held_mail(bot)
    bot.command("somchai@example.net", "discard", subject=f"Re: {subject}")
    sent = bot.outbox()
    assert [s.kind for s in sent] == ["command-reply"]
    bot.command("somchai@example.net", "approve", subject=f"Re: {subject}")
    sent = bot.outbox()
    assert [s.kind for s in sent] == ["command-reply"] and "already discarded" in sent[0].text


def test_held_posts_expire_with_a_notice(bot: Bot) -> None:
    bot.member("newbie@example.net")
    msg = EmailMessage()
    bot.post("guest@example.com", "Old", "old")
    bot.outbox()
    bot.clock.advance(timedelta(days=7, minutes=1))
    assert tick(bot.app)["expired"] == 1
    [notice] = bot.outbox("held-expired")
    assert notice.to == ["guest@example.com"]
    with bot.app.sessions() as session:
        assert session.query(Message).filter_by(subject="Old").one().status == "ignored"
    del msg


def test_blocked_attachment_is_held(bot: Bot) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "suda@example.net", "km-it@example.org", "Invoice"
    msg.set_content("see attached")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="invoice.pdf.exe")
    result = bot.ingest(msg.as_bytes(), "km-it@example.org")
    assert result.status == "held" and "attachment" in result.reason
    assert not bot.outbox("list-copy")


def test_pdf_attachment_passes(bot: Bot) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "suda@example.net", "km-it@example.org", "Slides"
    msg.set_content("slides attached")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="slides.pdf")
    assert bot.ingest(msg.as_bytes(), "km-it@example.org").status == "processed"


def test_first_post_of_new_member_held_when_community_asks(db_url, tmp_path, monkeypatch) -> None:
    b = make_bot(db_url, tmp_path, monkeypatch, moderate_first_posts=True)
    b.member("somchai@example.net", role="facilitator")
    b.member("new@example.net")
    assert b.post("new@example.net", "Hello, I am new", "hi").status == "held"
    held_mail = b.outbox("held-for-moderation")[0]
    b.command("somchai@example.net", "อนุมัติ", subject=f"Re: {held_mail.subject}")
    assert b.outbox("list-copy")
    assert b.post("new@example.net", "Second post", "again").status == "processed"


def test_cli_held_list_and_approve(bot: Bot, tmp_path, capsys) -> None:
    # The CLI reads the system clock, so the post is held "now": at the fixture's fixed date the
    # item would have expired (14 days) by the time the suite runs, and approval would be refused.
    bot.clock.set(datetime.now(UTC))
    bot.post("guest@example.com", "From the CLI", "text")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[database]\nurl = "{bot.app.settings.database.url}"\n[paths]\ndata_dir = "{tmp_path / "d"}"\n'
        '[[community]]\nslug = "km-it"\naddress = "km-it@example.org"\n', encoding="utf-8")
    assert cli_main(["--config", str(cfg), "held", "list", "--format", "json"]) == 0
    import json

    [row] = json.loads(capsys.readouterr().out)
    assert row["from"] == "guest@example.com" and row["reason"] == "non-member"
    assert cli_main(["--config", str(cfg), "held", "approve", "km-it", row["token"], "--by", "admin"]) == 0
    assert "approved" in capsys.readouterr().out
    assert cli_main(["--config", str(cfg), "held", "reject", "km-it", row["token"]]) == 2  # already decided
    assert bot.outbox("list-copy")


def test_roles_table() -> None:
    assert can("facilitator", "approve-held") and not can("member", "approve-held")
    assert can("scribe", "accept-on-behalf") and not can("sponsor", "accept-on-behalf")
    assert can("admin", "change-roles") and not can("facilitator", "change-roles")
    assert all(perm == perm.lower() and " " not in perm for perm in PERMISSIONS)
    assert cli_main(["roles", "--format", "json"]) == 0


def test_thai_facilitator_is_answered_in_thai(db_url, tmp_path, monkeypatch) -> None:
    b = make_bot(db_url, tmp_path, monkeypatch, language="th")
    b.member("somchai@example.net", role="facilitator", name="Somchai")
    b.member("suda@example.net", name="Suda")
    b.outbox()
    b.post("guest@example.com", "แม่แบบ AAR ของเรา", "แบ่งปันแม่แบบค่ะ")
    [held] = b.outbox("held-for-moderation")
    b.outbox()
    b.command("somchai@example.net", "อนุมัติ", subject=f"ตอบกลับ: {held.subject}")
    reply = next(s for s in b.outbox() if s.kind == "command-reply")
    assert "อนุมัติแล้ว: “แม่แบบ AAR ของเรา” จาก guest@example.com" in reply.text, reply.text
    assert "approved:" not in reply.text
    b.command("somchai@example.net", "อนุมัติ", subject=f"ตอบกลับ: {held.subject}")  # a second facilitator's click
    [again] = b.outbox()
    assert "อนุมัติไปแล้ว โดย somchai@example.net" in again.text and "already" not in again.text
    b.command("somchai@example.net", "อนุมัติ zzzzzzzzzzzzzzzz")
    [unknown] = b.outbox()
    assert "ไม่พบรายการที่รอพิจารณารหัส zzzzzzzzzzzzzzzz" in unknown.text, unknown.text
