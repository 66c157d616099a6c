"""Bounce scores: decay, hard vs soft vs spam-policy, the threshold, warnings, probes, re-enabling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailbot.cli import main as cli_main
from mailbot.mail.bounces import BounceVerdict
from mailbot.moderation.bounce_score import decayed, grade
from mailbot.moderation.maintenance import tick
from mailbot.moderation.models import BounceEvent
from tests.test_commands_support import Bot

pytest_plugins = ("tests.test_commands_support",)  # the `bot` fixture

pytestmark = pytest.mark.timeout(120)


def dsn(recipient: str, status: str, diagnostic: str, *, boundary: str = "b0und") -> bytes:
    action = "failed" if status.startswith("5") else "delayed"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: km-it-bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{abs(hash((recipient, status, diagnostic, boundary)))}@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery to {recipient} failed.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def bounce(bot: Bot, member: str, status: str, diagnostic: str, n: int) -> None:
    m = bot.get(member)
    assert m is not None
    to = f"km-it-bounces+{m.verp_token}@example.org"
    bot.ingest(dsn(member, status, diagnostic, boundary=f"b{n}"), to)


def test_grades_and_decay() -> None:
    assert grade(BounceVerdict("bounce", permanent=True)) == "hard"
    assert grade(BounceVerdict("bounce", permanent=False)) == "soft"
    assert grade(BounceVerdict("bounce", permanent=True, spam_policy=True)) == "spam-policy"
    assert grade(BounceVerdict("bounce")) == "unknown"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert decayed(4.0, t0, t0 + timedelta(days=7), 7.0) == pytest.approx(2.0)
    assert decayed(4.0, t0, t0, 7.0) == 4.0


def test_hard_bounces_disable_after_threshold_with_warning_and_notice(bot: Bot) -> None:
    # Daily hard bounces with a 7-day half-life cross the threshold of 5 on the 7th day.
    for day in range(7):
        assert bot.get("anan@example.net").status == "active"  # type: ignore[union-attr]
        bounce(bot, "anan@example.net", "5.1.1", "550 5.1.1 <anan@example.net>: user unknown", day)
        bot.clock.advance(timedelta(days=1))
    member = bot.get("anan@example.net")
    assert member is not None and member.status == "disabled" and member.disabled_reason == "bounces"
    sent = bot.outbox()
    assert [s.to for s in sent if s.kind == "bounce-warning"] == [["anan@example.net"]]
    assert [s.to for s in sent if s.kind == "bounce-disabled"] == [["somchai@example.net"]]
    assert not [s for s in sent if s.kind == "list-copy"]
    # A disabled member gets no list copies, and is listed as bouncing.
    bot.post("suda@example.net", "Hello all", "news")
    [copy] = bot.outbox("list-copy")
    assert "anan@example.net" not in copy.to


def test_many_bounces_on_one_day_count_once(bot: Bot) -> None:
    for i in range(10):
        bounce(bot, "anan@example.net", "5.1.1", "550 user unknown", i)
        bot.clock.advance(timedelta(minutes=30))
    member = bot.get("anan@example.net")
    assert member is not None and member.status == "active" and member.bounce_score == pytest.approx(1.0, abs=0.05)


def test_spam_policy_and_4xx_never_disable(bot: Bot) -> None:
    for day in range(12):
        bounce(bot, "suda@example.net", "5.7.1", "554 5.7.1 Message rejected as spam by Content Filtering", day)
        bounce(bot, "anan@example.net", "4.2.2", "452 4.2.2 Mailbox full", 100 + day)
        bot.clock.advance(timedelta(days=1))
    for who in ("suda@example.net", "anan@example.net"):
        assert bot.get(who).status == "active", who  # type: ignore[union-attr]
    with bot.app.sessions() as session:
        grades = set(session.scalars(select(BounceEvent.grade)))
        spam_weights = set(session.scalars(select(BounceEvent.weight).where(BounceEvent.grade == "spam-policy")))
    assert {"spam-policy", "soft"} <= grades and spam_weights == {0.0}


def test_score_decays_between_sparse_bounces(bot: Bot) -> None:
    for i in range(8):
        bounce(bot, "anan@example.net", "5.1.1", "550 user unknown", i)
        bot.clock.advance(timedelta(days=14))  # two half-lives between bounces
    assert bot.get("anan@example.net").status == "active"  # type: ignore[union-attr]


def _disable(bot: Bot) -> None:
    for day in range(7):
        bounce(bot, "anan@example.net", "5.1.1", "550 user unknown", day)
        bot.clock.advance(timedelta(days=1))
    assert bot.get("anan@example.net").status == "disabled"  # type: ignore[union-attr]
    bot.outbox()


def test_probe_that_does_not_bounce_re_enables(bot: Bot) -> None:
    _disable(bot)
    bot.clock.advance(timedelta(days=7))
    assert tick(bot.app)["probed"] == 1
    [probe] = bot.outbox("bounce-probe")
    assert probe.to == ["anan@example.net"] and probe.verp
    bot.clock.advance(timedelta(days=3, minutes=1))
    assert tick(bot.app)["re-enabled"] == 1
    member = bot.get("anan@example.net")
    assert member is not None and member.status == "active" and member.bounce_score == 0


def test_probe_that_bounces_keeps_delivery_off_then_gives_up(bot: Bot) -> None:
    _disable(bot)
    given_up = 0
    for n in range(3):
        bot.clock.advance(timedelta(days=7))
        assert tick(bot.app)["probed"] == 1
        bounce(bot, "anan@example.net", "5.1.1", "550 user unknown", 50 + n)
        bot.clock.advance(timedelta(days=3, minutes=1))
        counts = tick(bot.app)
        assert counts["re-enabled"] == 0
        given_up += counts["given-up"]
    assert given_up == 1  # right after the third (last) probe bounced
    bot.clock.advance(timedelta(days=30))
    assert tick(bot.app) == {"expired": 0, "probed": 0, "re-enabled": 0, "given-up": 0}
    assert bot.get("anan@example.net").status == "disabled"  # type: ignore[union-attr]
    final = [s for s in bot.outbox() if s.kind == "bounce-disabled"]
    assert final and "still bounces" in final[-1].text.lower()


def test_member_replying_mail_re_enables_at_once(bot: Bot) -> None:
    _disable(bot)
    auth = {"Authentication-Results": "mx.example.org; dmarc=pass header.from=example.net"}
    bot.command("anan@example.net", "mail", **auth)
    member = bot.get("anan@example.net")
    assert member is not None and member.status == "active" and member.bounce_score == 0


def test_members_list_bouncing(bot: Bot, capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    _disable(bot)
    url = bot.app.settings.database.url
    cfg = tmp_path / "mailbot.toml"
    cfg.write_text(
        f'[database]\nurl = "{url}"\n[paths]\ndata_dir = "{tmp_path / "d"}"\n'
        '[[community]]\nslug = "km-it"\naddress = "km-it@example.org"\n',
        encoding="utf-8",
    )
    assert cli_main(["--config", str(cfg), "members", "list", "km-it", "--bouncing", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "anan@example.net" in out and "suda@example.net" not in out
