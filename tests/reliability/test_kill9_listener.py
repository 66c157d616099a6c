"""kill -9 of the always-on `mailbot run` with its SMTP listener, while a sending MTA keeps delivering posts.

The bot is the list's own mail server here: an MTA-like client sends each post to the listener and
keeps the bytes until it gets a 250, retrying after a refused connection, a dropped one or a 4xx,
as Postfix would. The bot is killed over and over (at the commit before the 250, before the commit,
inside and after an SMTP send of the fan-out, and from outside at random moments) and restarted at
once, as systemd would. Nothing answered with 250 may be lost, a post stored before its 250 and so
sent again must not be stored or distributed twice, and the only duplicates at the members are the
envelopes in flight at a kill (at most one delivery round).
"""

from __future__ import annotations

import collections
import random
import smtplib
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from mailbot.config import ImapSettings, load
from mailbot.store.db import make_engine, make_session_factory
from mailbot.store.models import Message
from tests.reliability.harness import (
    Post,
    PostStream,
    assert_nothing_lost,
    check_invariants,
    settled,
    start_bot,
    stop_bot,
    wait_until,
    write_config,
)
from tests.reliability.harness import setup_members as migrate_and_add_members
from tests.reliability.inflight import MID_DELIVERY, ROUND_SMTP, WALL_CLOCK, InFlight, Kill
from tests.servers.dovecot import free_port

pytestmark = pytest.mark.faults

LIST = "km-it@example.org"
# The kills, in turn. Aimed ones die at the checkpoint (the crash log names it); the listener's
# own windows are the commit before the 250 (the MTA sends the post again) and the moment before
# the commit (nothing stored: the MTA must not have had a 250).
AIMED = ("after-ingest-commit@2", "pipeline-before-commit@2", "after-smtp-send@1",
         "smtp-mid-transaction@1", "after-ingest-commit@1", "pipeline-before-commit@1")  # fmt: skip
ROUNDS = 20  # every other round aimed, the others from outside
OUTSIDE_DELAY = (0.2, 1.5)  # seconds after the listener first answers
AIMED_TIMEOUT = 15.0  # an aimed round whose checkpoint never came is killed from outside


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Mta:
    """Sends posts to the listener one by one, holding each until it is answered 250."""

    def __init__(self, port: int, stream: PostStream, db_url: str, interval: float) -> None:
        self.port, self.stream, self.interval = port, stream, interval
        self.engine = make_engine(db_url)
        self.sessions = make_session_factory(self.engine)
        self.stop = threading.Event()
        self.accepted = 0
        self.attempts_failed = 0
        self.stored_before_250: set[str] = set()  # posts the bot committed but never answered
        self.permanent: list[str] = []  # 5xx: the bot refused a post for good (must not happen)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _stored(self, post: Post) -> bool:
        with self.sessions() as s:
            ids = (post.message_id, f"<{post.message_id}>")
            return s.scalar(select(Message.id).where(Message.message_id.in_(ids))) is not None

    def _send(self, post: Post) -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                # On the wire as an MTA sends it: CRLF line ends (smtplib would otherwise add one).
                client.sendmail(post.sender, [LIST], post.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            return True
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                self.permanent.append(f"{post.token}: {exc.smtp_code} {exc.smtp_error!r}")
                return True  # a real MTA would bounce it; the check below reports it
        except (smtplib.SMTPException, OSError):
            pass  # refused, dropped mid-transaction, timed out: the MTA keeps the post
        self.attempts_failed += 1
        if self._stored(post):
            self.stored_before_250.add(post.token)
        return False

    def _run(self) -> None:
        while not self.stop.is_set():
            post = self.stream.next()
            while not self._send(post):
                time.sleep(0.2)  # the bot is restarting; a real MTA waits minutes, not seconds
            self.accepted += 1
            self.stop.wait(self.interval)

    def __enter__(self) -> Mta:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(60)
        self.engine.dispose()


def _point(crash_log: Path, lines_before: int) -> str:
    """Where the round's process died: the checkpoint it logged, or an outside kill when none."""
    lines = crash_log.read_text().splitlines()
    return lines[-1].split()[0] if len(lines) > lines_before else WALL_CLOCK


def _listener_loop(
    db_url: str, tmp_path: Path, dovecot: Any, imap: ImapSettings, sink: Any, name: str
) -> dict[str, Any]:
    port = free_port()
    listener = f"[inbound_smtp]\nenabled = true\nport = {port}\n"
    cfg = write_config(tmp_path, db_url, imap, sink.port, extra=listener, smtp_extra=ROUND_SMTP)
    migrate_and_add_members(cfg)
    smtp = load(cfg).smtp
    per_round = smtp.connections * smtp.inflight_per_connection
    stream = PostStream(name)
    crash_log = tmp_path / "crashes.log"
    crash_log.touch()
    log = tmp_path / "bot.log"
    rng = random.Random(name)
    inflight = InFlight(db_url, sink)
    kills: list[Kill] = []
    started = time.monotonic()
    try:
        with Mta(port, stream, db_url, interval=0.05) as mta:
            for round_ in range(ROUNDS):
                aimed = round_ % 2 == 0
                spec = AIMED[(round_ // 2) % len(AIMED)] if aimed else ""
                lines_before = len(crash_log.read_text().splitlines())
                proc = start_bot(cfg, log, crash_at=spec, crash_log=crash_log)
                try:
                    wait_until(lambda p=proc: _listening(port) or p.poll() is not None, 30, step=0.05)
                    if aimed:
                        try:
                            proc.wait(AIMED_TIMEOUT)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                    else:
                        time.sleep(rng.uniform(*OUTSIDE_DELAY))
                        proc.kill()
                    assert proc.wait(30) == -9, f"round {round_} ({spec or WALL_CLOCK}) exited {proc.returncode}"
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait(10)
                kills.append(Kill("run", _point(crash_log, lines_before), *inflight.at_kill()))
            # Recovery: the bot started plainly, as after the last crash; the MTA's queue drains.
            began = time.monotonic()
            proc = start_bot(cfg, log)
            try:
                wait_until(lambda: _listening(port), 30, step=0.05)
                time.sleep(1.0)  # a few more posts to a healthy bot
                mta.stop.set()
                mta.thread.join(60)
                assert not mta.thread.is_alive(), "the MTA never got its last post accepted"
                wait_until(settled(db_url, dovecot, imap.username, stream.posts), 60, step=0.2)
                recovery = time.monotonic() - began
            finally:
                code = stop_bot(proc)
            assert code == 0, log.read_text()[-3000:]
        unexplained = inflight.unexplained_duplicates()
        all_duplicates = inflight.duplicates()
    finally:
        inflight.close()
    return {
        "figures": check_invariants(db_url, stream.posts, sink, trace=_return_path), "kills": kills,
        "per_round": per_round, "unexplained": unexplained, "all_duplicates": all_duplicates,
        "accepted": mta.accepted, "attempts_failed": mta.attempts_failed,
        "stored_before_250": sorted(mta.stored_before_250), "permanent": mta.permanent,
        "recovery_s": round(recovery, 2), "elapsed_s": round(time.monotonic() - started, 1),
    }  # fmt: skip


def _return_path(post: Post) -> bytes:
    """What a final-delivery agent prepends to what it was sent: the envelope sender."""
    return f"Return-Path: <{post.sender}>\n".encode()


def test_kill9_of_the_always_on_bot_while_an_mta_delivers_to_its_listener(
    db_url: str, tmp_path: Path, dovecot: Any, imap_settings: ImapSettings, smtp_sink: Any,
    reliability_report: list[dict[str, Any]],
) -> None:
    database = make_url(db_url).get_backend_name()  # conftest's db_url: sqlite, then postgresql
    out = _listener_loop(db_url, tmp_path, dovecot, imap_settings, smtp_sink, f"listen{database}")
    f, kills, per_round = out["figures"], out["kills"], out["per_round"]
    points = collections.Counter(k.point for k in kills)
    reliability_report.append({
        "scenario": "kill-9-always-on-listener", "database": database, "kills": len(kills),
        "kill_points": dict(points), "delivery_round": per_round,
        "in_flight_mid_delivery": {p: [k.in_flight for k in kills if k.point == p] for p in MID_DELIVERY},
        "in_flight": sum(k.in_flight for k in kills), "all_duplicates": out["all_duplicates"],
        "mta_accepted": out["accepted"], "mta_attempts_failed": out["attempts_failed"],
        "stored_before_250": len(out["stored_before_250"]),
        **f.as_dict(), "recovery_s": out["recovery_s"], "elapsed_s": out["elapsed_s"],
        "command": "pytest tests/reliability/test_kill9_listener.py",
    })  # fmt: skip
    assert out["permanent"] == [], out["permanent"]
    assert len(kills) == ROUNDS
    # The aimed kills hit where they aimed, and the outside ones came at moments of their own.
    for spec in AIMED[: ROUNDS // 2]:
        assert points[spec.split("@")[0]] >= 1, points
    assert points[WALL_CLOCK] >= ROUNDS // 2, points
    # The window the listener must get right was really hit: committed, killed before the 250.
    assert out["stored_before_250"], "no post was stored before its 250; the resend case went untested"
    # Delivery runs on its own thread beside the listener, so any kill, even one aimed at ingest,
    # may land in a round's sends: the bound is one round for every kill.
    for k in kills:
        assert k.in_flight <= per_round, f"{k}: {k.in_flight} envelopes sent but unrecorded (round is {per_round})"
    assert out["unexplained"] == {}, f"duplicates not in flight at any kill: {list(out['unexplained'])[:10]}"
    # Every post the MTA got a 250 for is stored once with its bytes and reached every member.
    assert f.accepted == out["accepted"]
    assert_nothing_lost(f)
