"""End to end on real servers: Dovecot in, aiosmtpd sink out, the real `mailbot` process where it matters."""

from __future__ import annotations

import email
import email.policy
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailbot.app import App
from mailbot.clock import SystemClock
from mailbot.config import ImapSettings
from mailbot.store.models import Message, OutboxRecipient
from tests.helpers import add_members, make_app, member_mail, settings_for
from tests.reliability.harness import write_config

MEMBERS = (("somchai@example.org", "สมชาย"), ("suda@example.org", "สุดา"), ("anan@example.org", "อนันต์"))
REPO = Path(__file__).resolve().parent.parent


def subjects(sink: Any, count: int, timeout: float = 15.0) -> list[str]:
    got = sink.wait_for(count, timeout=timeout)
    return [str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"]) for m in got]


def test_imap_append_reaches_members_in_run_once(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    app = make_app(settings_for(db_url, tmp_path, smtp_port=smtp_sink.port, imap=imap_settings))
    add_members(app, *MEMBERS)
    user = imap_settings.username
    dovecot.append(user, "INBOX", member_mail("somchai@example.org", "ไวไฟชั้น 5 หลุดบ่อย", "แจ้งไว้ก่อน ฝ่ายเครือข่ายกำลังตรวจสอบ"))
    dovecot.append(user, "INBOX", member_mail("outsider@else.org", "hello", "not a member"))
    counts = app.run_once()
    assert counts["fetched"] == 2
    assert subjects(smtp_sink, 3) .count("[KM-IT] ไวไฟชั้น 5 หลุดบ่อย") == 2
    # Both left the inbox only after their commit: one processed, one held (plus its notice).
    assert dovecot.list_uids(user, "INBOX") == []
    assert len(dovecot.list_uids(user, imap_settings.processed_folder)) == 2
    with app.sessions() as s:
        assert sorted(s.scalars(select(Message.status)).all()) == ["held", "processed"]
    # A second pass finds nothing new and sends nothing twice.
    assert app.run_once()["fetched"] == 0
    time.sleep(0.3)
    assert len(smtp_sink.messages) == 3


def test_idle_mode_delivers_within_seconds(
    sqlite_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    settings = settings_for(sqlite_url, tmp_path, smtp_port=smtp_sink.port, imap=imap_settings)
    app = App(settings, clock=SystemClock())
    app.prepare()
    add_members(app, *MEMBERS)
    stop = threading.Event()
    ready = threading.Event()
    runner = threading.Thread(target=app.run, args=(stop, ready.set), daemon=True)
    runner.start()
    try:
        assert ready.wait(10)
        time.sleep(1.0)  # let the IMAP thread reach IDLE
        started = time.monotonic()
        dovecot.append(imap_settings.username, "INBOX", member_mail("suda@example.org", "idle test", "x"))
        assert subjects(smtp_sink, 2, timeout=20) == ["[KM-IT] idle test"] * 2
        assert time.monotonic() - started < 15
    finally:
        stop.set()
        runner.join(20)
    assert not runner.is_alive(), "run() must stop promptly when asked"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_smtp_listener_takes_mail_and_answers_after_commit(
    db_url: str, tmp_path: Path, smtp_sink: Any
) -> None:
    settings = settings_for(db_url, tmp_path, smtp_port=smtp_sink.port)
    settings.inbound_smtp.enabled = True
    settings.inbound_smtp.port = free_port()
    app = App(settings, clock=SystemClock())
    app.prepare()
    add_members(app, *MEMBERS)
    stop, ready = threading.Event(), threading.Event()
    runner = threading.Thread(target=app.run, args=(stop, ready.set), daemon=True)
    runner.start()
    try:
        assert ready.wait(10)
        raw = member_mail("anan@example.org", "ผ่าน SMTP", "ทดสอบ")
        with smtplib.SMTP("127.0.0.1", settings.inbound_smtp.port, timeout=10) as client:
            refused = client.sendmail("anan@example.org", ["km-it@example.org"], raw)
            assert refused == {}
            # Once 250 came back, the message is already committed.
            with app.sessions() as s:
                assert s.scalar(select(func.count()).select_from(Message)) == 1
            try:
                client.sendmail("anan@example.org", ["nobody@example.org"], raw)
                raise AssertionError("unknown recipient accepted")
            except smtplib.SMTPRecipientsRefused as exc:
                assert exc.recipients["nobody@example.org"][0] == 550
        assert subjects(smtp_sink, 2) == ["[KM-IT] ผ่าน SMTP"] * 2
    finally:
        stop.set()
        runner.join(20)


# -- the real process, killed at the worst moments ---------------------------------------------
def mailbot(cfg: Path, *args: str, crash_at: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MAILBOT_CRASH_AT=crash_at)
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(cfg), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_kill_between_commit_and_imap_move(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    cfg = write_config(tmp_path, db_url, imap_settings, smtp_sink.port)
    for email_, name in MEMBERS:
        assert mailbot(cfg, "members", "add", "km-it", email_, "--name", name).returncode == 0
    dovecot.append(imap_settings.username, "INBOX", member_mail("somchai@example.org", "crash-1", "x"))
    crashed = mailbot(cfg, "run", "--once", crash_at="after-ingest-commit")
    assert crashed.returncode == -9, crashed.stderr
    # Committed but never moved: still in the inbox, nothing sent yet.
    assert len(dovecot.list_uids(imap_settings.username, "INBOX")) == 1
    assert smtp_sink.messages == []
    done = mailbot(cfg, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert subjects(smtp_sink, 2) == ["[KM-IT] crash-1"] * 2
    assert dovecot.list_uids(imap_settings.username, "INBOX") == []
    time.sleep(0.3)
    rcpts = sorted(r for m in smtp_sink.messages for r in m.rcpt_tos)
    assert rcpts == ["anan@example.org", "suda@example.org"]  # exactly once each


def test_kill_between_smtp_send_and_status_update(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any
) -> None:
    cfg = write_config(tmp_path, db_url, imap_settings, smtp_sink.port)
    for email_, name in MEMBERS:
        mailbot(cfg, "members", "add", "km-it", email_, "--name", name)
    dovecot.append(imap_settings.username, "INBOX", member_mail("somchai@example.org", "crash-2", "x"))
    crashed = mailbot(cfg, "run", "--once", crash_at="after-smtp-send")
    assert crashed.returncode == -9, crashed.stderr
    in_flight = len(smtp_sink.wait_for(2))
    done = mailbot(cfg, "run", "--once")
    assert done.returncode == 0, done.stderr
    got = smtp_sink.wait_for(in_flight + 2)
    rcpts = [r for m in got for r in m.rcpt_tos]
    # Every member got it; the only duplicates are the batch that was in flight at the kill.
    assert set(rcpts) == {"anan@example.org", "suda@example.org"}
    assert len(rcpts) - 2 <= in_flight
    from mailbot.store.db import make_engine, make_session_factory

    with make_session_factory(make_engine(db_url))() as s:
        assert s.scalar(
            select(func.count()).select_from(OutboxRecipient).where(OutboxRecipient.status != "sent")
        ) == 0
