"""Abuse and bad input: forged From, replayed/expired codes, quoted commands, huge mail, loops, injection."""

from __future__ import annotations

import re
import shutil
import time
from datetime import timedelta
from email.header import Header
from email.message import EmailMessage

import pytest

from mailbot.commands.parse import parse_commands
from mailbot.commands.table import COMMANDS, THAI_PREFIXES, lookup
from mailbot.config import LimitSettings
from mailbot.mail.parse import parse_message
from mailbot.moderation import authres
from mailbot.moderation.facts import post_rate_cap
from tests.test_commands_support import REPO, Bot, make_bot, raw_mail

pytest_plugins = ("tests.test_commands_support",)  # the `bot` fixture

pytestmark = pytest.mark.timeout(300)

PASS = "mx.example.org; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net; dmarc=pass header.from=example.net"
FAIL = "mx.example.org; spf=fail smtp.mailfrom=example.net; dkim=none; dmarc=fail (p=reject) header.from=example.net"


@pytest.fixture
def strict(db_url, tmp_path, monkeypatch) -> Bot:
    b = make_bot(db_url, tmp_path, monkeypatch, require_dmarc_for_privileged=True, authserv_ids=["mx.example.org"])
    b.member("somchai@example.net", role="facilitator")
    b.member("suda@example.net")
    b.post("guest@example.com", "Please approve me", "text")
    b.outbox()
    return b


def _moderation_subject(b: Bot) -> str:
    held = b.outbox("held-for-moderation", new=False)[0]
    return held.subject


def test_forged_from_cannot_approve(strict: Bot) -> None:
    subject = f"Re: {_moderation_subject(strict)}"
    strict.command("somchai@example.net", "approve", subject=subject, Authentication_Results=FAIL)
    sent = strict.outbox()
    assert not [s for s in sent if s.kind == "list-copy"]
    assert "could not authenticate" in sent[-1].text
    # A pass claimed by a header the forger added (not our authserv-id) is not believed either.
    forged = raw_mail(strict.community.request_address, "somchai@example.net", subject, "approve")
    forged = forged.replace(b"Subject:", b"Authentication-Results: evil.example; dmarc=pass header.from=example.net\nSubject:", 1)
    strict.ingest(forged, strict.community.request_address)
    assert not strict.outbox("list-copy")
    # The real facilitator, authenticated by our server, can.
    strict.command("somchai@example.net", "approve", subject=subject, Authentication_Results=PASS)
    assert strict.outbox("list-copy")


def test_authres_parsing() -> None:
    def verdict(*headers: str, ids: tuple[str, ...] = ()) -> authres.AuthVerdict:
        raw = "".join(f"Authentication-Results: {h}\n" for h in headers) + "From: a@example.net\nSubject: x\n\nbody\n"
        return authres.verdict(parse_message(raw.encode()), ids)

    assert verdict(PASS).passed
    assert not verdict(FAIL).passed
    assert not verdict(FAIL, PASS).passed  # only the topmost header counts without configured ids
    assert verdict("mx.example.org; dkim=pass (good) header.d=example.net").passed
    assert not verdict("mx.example.org; dkim=pass header.d=attacker.example").passed
    assert not verdict("mx.example.org; dmarc=pass header.from=other.example").passed
    assert not verdict("evil.example; dmarc=pass header.from=example.net", ids=("mx.example.org",)).passed
    assert not verdict().passed


def test_expired_and_replayed_confirmation_codes(bot: Bot) -> None:
    bot.command("late@example.com", "subscribe")
    confirm = bot.outbox("confirm-subscribe")[0]
    bot.clock.advance(timedelta(hours=73))
    bot.command("late@example.com", subject=f"Re: {confirm.subject}")
    assert bot.get("late@example.com") is None
    assert "expired" in bot.outbox("command-reply")[-1].text
    bot.command("late@example.com", "unsubscribe")  # not a member: refused, no code mailed
    assert not bot.outbox("confirm-unsubscribe")


def test_command_hidden_in_quoted_text_or_signature_is_not_obeyed(bot: Bot) -> None:
    body = (
        "Thanks for the reply!\n\n"
        "On Mon, 16 Nov 2026 at 09:00, KM-IT <km-it-request@example.org> wrote:\n"
        "> unsubscribe\n> nomail\n> approve\n"
    )
    bot.command("suda@example.net", body)
    sent = bot.outbox()
    assert not [s for s in sent if s.kind.startswith("confirm")]
    assert bot.get("suda@example.net").delivery == "each"  # type: ignore[union-attr]
    bot.command("anan@example.net", "who suda\n-- \nunsubscribe\nSent from my iPhone")
    assert not bot.outbox("confirm-unsubscribe")


def test_thirty_megabyte_post_is_held_not_crashing(bot: Bot) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "suda@example.net", "km-it@example.org", "Huge scan"
    msg.set_content("see the scan")
    msg.add_attachment(b"%PDF" + b"\x00" * (30 * 1024 * 1024), maintype="application", subtype="pdf",
                       filename="scan.pdf")
    started = time.monotonic()
    result = bot.ingest(msg.as_bytes(), "km-it@example.org")
    assert result.status == "held" and "size limit" in result.reason
    assert time.monotonic() - started < 60
    sent = bot.outbox()
    assert not [s for s in sent if s.kind == "list-copy"]
    assert all(len(s.msg.as_bytes()) < 200_000 for s in sent)  # no one gets the 30 MB back


def test_ten_thousand_line_body_reads_only_the_first_lines(bot: Bot) -> None:
    body = "who suda\n" + "\n".join(f"subscribe victim{i}@example.org" for i in range(10_000))
    started = time.monotonic()
    bot.command("anan@example.net", body)
    assert time.monotonic() - started < 30
    sent = bot.outbox()
    confirms = [s for s in sent if s.kind == "confirm-subscribe"]
    assert len(confirms) <= 9  # command_lines = 10
    [reply] = [s for s in sent if s.kind == "command-reply"]
    assert "more lines" in reply.text and len(reply.text) < 20_000


def test_reply_loop_between_two_bots_is_cut(bot: Bot) -> None:
    # Another robot answers everything it gets, without Auto-Submitted, quoting what it got.
    last = "hello"
    for _ in range(30):
        bot.command("robot@example.com", f"I am a robot.\n\n> {last}", subject="Re: [KM-IT] Results")
        replies = bot.outbox()
        if replies:
            last = replies[-1].text.splitlines()[0]
    with bot.app.sessions() as session:
        from sqlalchemy import func, select

        from mailbot.store.models import Outbox

        total = session.scalar(select(func.count(Outbox.id)))
    assert total is not None and total <= 2
    # A well-behaved robot (Auto-Submitted) never gets an answer at all.
    bot.command("vacation@example.com", "help", Auto_Submitted="auto-replied")
    bot.command("list@example.com", "help", Precedence="bulk")
    assert not bot.outbox()


def test_command_rate_limit_sends_one_notice(bot: Bot) -> None:
    for _ in range(15):
        bot.command("anan@example.net", "who suda")
    sent = bot.outbox()
    assert len([s for s in sent if s.kind == "command-reply"]) == 10  # commands_per_minute
    assert len([s for s in sent if s.kind == "command-rate-limit"]) == 1


def test_post_rate_limit_holds_the_flood(bot: Bot) -> None:
    results = [bot.post("anan@example.net", f"Post {i}", "x").status for i in range(7)]
    assert results[:5] == ["processed"] * 5 and results[5:] == ["held", "held"]
    bot.clock.advance(timedelta(minutes=2))
    assert bot.post("anan@example.net", "Later", "x").status == "processed"


def test_post_rate_per_hour_and_zero_means_no_limit(db_url, tmp_path, monkeypatch) -> None:
    b = make_bot(db_url, tmp_path, monkeypatch, limits=LimitSettings(posts_per_minute=0, posts_per_hour=3))
    b.member("anan@example.net")
    statuses = []
    for i in range(6):  # one post every 5 minutes: never over a per-minute limit (0: none)
        statuses.append(b.post("anan@example.net", f"Post {i}", "x").status)
        b.clock.advance(timedelta(minutes=5))
    assert statuses == ["processed"] * 3 + ["held"] * 3
    b.clock.advance(timedelta(hours=1))  # the hour has passed: the sender may post again
    assert b.post("anan@example.net", "Next hour", "x").status == "processed"


def test_a_rules_own_post_limit_is_counted_up_to(db_url, tmp_path, monkeypatch) -> None:
    # Recent posts are counted only as far as the largest limit any rule applies: a rule's own
    # per_hour above the settings' must still be reached (counting stopped at 3 would never hold).
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    routing = rules / "routing.toml"
    text = routing.read_text(encoding="utf-8")
    assert 'when = "sender-over-post-rate"' in text
    routing.write_text(
        text.replace('when = "sender-over-post-rate"', 'when = { test = "sender-over-post-rate", per_hour = 5 }'),
        encoding="utf-8",
    )
    b = make_bot(db_url, tmp_path, monkeypatch, limits=LimitSettings(posts_per_minute=0, posts_per_hour=3),
                 rules_dir=rules)  # fmt: skip
    assert post_rate_cap(b.app.settings, b.app.rules) == 5
    b.member("anan@example.net")
    statuses = []
    for i in range(7):
        statuses.append(b.post("anan@example.net", f"Post {i}", "x").status)
        b.clock.advance(timedelta(minutes=5))
    assert statuses == ["processed"] * 5 + ["held"] * 2


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c.name)
def test_every_thai_and_english_spelling_is_recognised(cmd) -> None:
    for word in (cmd.name, cmd.name.upper(), *cmd.aliases):
        assert lookup(word) is cmd
        parsed = parse_commands("", f"{word} x", prefix="[KM-IT]", is_command=lambda w: lookup(w) is not None,
                                takes_body=lambda w: False, max_lines=10, no_space_prefixes=THAI_PREFIXES)
        assert [c.word for c in parsed.commands] == [word.lower()]


def test_thai_without_space_and_subject_commands() -> None:
    def parse(subject: str, body: str):
        return parse_commands(subject, body, prefix="[KM-IT]", is_command=lambda w: lookup(w) is not None,
                              takes_body=lambda w: False, max_lines=10, no_space_prefixes=THAI_PREFIXES)

    assert [(c.word, c.args) for c in parse("", "ค้นหาการทำ AAR").commands] == [("ค้นหา", "การทำ AAR")]
    assert [c.word for c in parse("Re: [KM-IT] subscribe", "").commands] == ["subscribe"]
    assert [c.word for c in parse("subscribe", "subscribe").commands] == ["subscribe"]


def test_header_injection_and_html_in_member_mail(bot: Bot) -> None:
    evil_subject = Header("Hello\r\nBcc: victim@example.org\r\nX-Evil: 1", "utf-8").encode()
    raw = raw_mail("km-it@example.org", "guest@example.com", "placeholder",
                   "<script>alert('x')</script> <img src=x onerror=alert(1)>")
    raw = raw.replace(b"Subject: placeholder", b"Subject: " + evil_subject.encode())
    bot.ingest(raw, "km-it@example.org")
    sent = bot.outbox()
    assert sent
    for s in sent:
        data = s.msg.as_bytes()
        assert not re.search(rb"^(Bcc|X-Evil):", data, re.MULTILINE | re.IGNORECASE)
        assert "<script>" not in s.html and "<img src=x" not in s.html
    held = next(s for s in sent if s.kind == "held-for-moderation")
    assert "&lt;script&gt;" in held.html
