"""Shared pieces of the fault-injection scenarios: a stream of posts, the real bot process, invariants.

`check_invariants` is the one judge every scenario calls: nothing accepted is lost, every member
got every distributed post, and duplicates are counted (not hidden) so RELIABILITY.md can report them.
"""

from __future__ import annotations

import collections
import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailbot.app import App
from mailbot.config import ImapSettings, load
from mailbot.store.db import make_engine, make_session_factory
from mailbot.store.models import Message, OutboxRecipient
from tests.helpers import add_members, member_mail

REPO = Path(__file__).resolve().parents[2]
MEMBERS = (
    ("somchai@example.org", "สมชาย"),
    ("suda@example.org", "สุดา"),
    ("anan@example.org", "อนันต์"),
)
MEMBER_EMAILS = tuple(m[0] for m in MEMBERS)
FINAL_STATUSES = {"processed", "held", "ignored", "failed"}
_TOKEN = re.compile(r"rel-[a-z0-9]+-\d{4}")


@dataclass(frozen=True)
class Post:
    token: str  # unique, in the subject, so a list copy at the sink maps back to its post
    sender: str
    message_id: str
    raw: bytes

    @property
    def from_member(self) -> bool:
        return self.sender in MEMBER_EMAILS


class PostStream:
    """Numbered posts for one scenario; every 7th comes from a non-member (held, not distributed)."""

    def __init__(self, scenario: str) -> None:
        self.scenario = re.sub(r"[^a-z0-9]", "", scenario.lower())
        self.posts: list[Post] = []
        self._lock = threading.Lock()

    def next(self, *, size: int = 0) -> Post:
        with self._lock:
            n = len(self.posts)
            sender = "outsider@else.org" if n % 7 == 6 else MEMBER_EMAILS[n % len(MEMBER_EMAILS)]
            token = f"rel-{self.scenario}-{n:04d}"
            mid = f"{token}@{sender.split('@')[1]}"
            body = "ข้อความทดสอบความทนทาน\n" + ("x" * 76 + "\n") * (size // 77)
            raw = member_mail(sender, f"{token} ทดสอบ", body, message_id=f"<{mid}>")
            post = Post(token, sender, mid, raw)
            self.posts.append(post)
            return post


class Feeder:
    """Appends posts to a Dovecot mailbox from a thread at a steady rate until stopped."""

    def __init__(self, dovecot: Any, user: str, stream: PostStream, interval: float) -> None:
        self.dovecot, self.user, self.stream, self.interval = dovecot, user, stream, interval
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            post = self.stream.next()
            try:
                self.dovecot.append(self.user, "INBOX", post.raw)
            except Exception as exc:  # the server may be restarting: the post was not accepted
                with self.stream._lock:
                    self.stream.posts.remove(post)
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(self.interval)

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)


# -- the real bot process ---------------------------------------------------------------------
def write_config(
    tmp_path: Path, db_url: str, imap: ImapSettings, smtp_port: int, *, extra: str = "", smtp_extra: str = ""
) -> Path:
    cfg = tmp_path / "mailbot.toml"
    cfg.write_text(
        f"""
[database]
url = "{db_url}"
[paths]
data_dir = "{tmp_path / 'data'}"
[imap]
host = "{imap.host}"
port = {imap.port}
ssl = false
username = "{imap.username}"
password = "{imap.password}"
poll_seconds = 0.5
idle_seconds = 20.0
fetch_batch = 5
timeout = 10.0
[smtp]
host = "127.0.0.1"
port = {smtp_port}
retry_base_seconds = 0.5
retry_max_seconds = 2.0
timeout = 5.0
poll_seconds = 0.3
{smtp_extra}
[limits]
# The harness streams posts from a few senders far faster than people write; the per-sender
# rate limits are tested on their own in tests/test_abuse.py.
posts_per_minute = 100000
posts_per_hour = 1000000
[[community]]
slug = "km-it"
address = "km-it@example.org"
subject_prefix = "[KM-IT]"
{extra}
""",
        encoding="utf-8",
    )
    return cfg


def bot_env(crash_at: str = "", crash_log: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, MAILBOT_CRASH_AT=crash_at, PYTHONUNBUFFERED="1")
    env["MAILBOT_CRASH_LOG"] = str(crash_log) if crash_log else ""
    return env


def run_bot(cfg: Path, *args: str, crash_at: str = "", crash_log: Path | None = None,
            timeout: float = 120, kill_after: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run the bot to its end; with `kill_after`, SIGKILL it from outside after that many seconds
    if it is still running (wherever it is: mid-statement, mid-SMTP transaction, mid-write)."""
    argv = [sys.executable, "-m", "mailbot", "--config", str(cfg), *args]
    env = bot_env(crash_at, crash_log)
    if kill_after is None:
        return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    with subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def start_bot(cfg: Path, log: Path, *args: str, crash_at: str = "", crash_log: Path | None = None
              ) -> subprocess.Popen[bytes]:  # fmt: skip
    """`mailbot run` in the background (IDLE, delivery loop, scheduler), output to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(cfg), "run", *args],
            env=bot_env(crash_at, crash_log), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop_bot(proc: subprocess.Popen[bytes], *, kill: bool = False) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


# -- invariants -------------------------------------------------------------------------------
@dataclass
class Figures:
    accepted: int = 0
    stored: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_rows: int = 0  # one message stored twice (dedupe failed)
    not_final: list[str] = field(default_factory=list)
    raw_mismatch: list[str] = field(default_factory=list)
    missing_deliveries: list[str] = field(default_factory=list)
    duplicates: int = 0  # extra copies of a post at a member, beyond the first
    pending: int = 0  # outbox recipients neither sent nor failed
    failed_rcpts: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted, "stored": self.stored, "lost": len(self.lost),
            "duplicate_rows": self.duplicate_rows, "not_final": len(self.not_final),
            "missing_deliveries": len(self.missing_deliveries), "duplicates": self.duplicates,
            "pending": self.pending, "failed_recipients": self.failed_rcpts,
            "statuses": self.statuses,
        }  # fmt: skip


def _norm_crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def sink_copies(sink: Any) -> collections.Counter[tuple[str, str]]:
    """(post token, recipient) -> how many copies the sink received."""
    got: collections.Counter[tuple[str, str]] = collections.Counter()
    for m in list(sink.messages):
        subject = str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"] or "")
        found = _TOKEN.search(subject)
        if found:
            for rcpt in m.rcpt_tos:
                got[(found.group(0), rcpt.lower())] += 1
    return got


def check_invariants(
    db_url: str,
    posts: Sequence[Post],
    sink: Any,
    *,
    members: Iterable[str] = MEMBER_EMAILS,
    refused: Iterable[str] = (),
    trace: Callable[[Post], bytes] = lambda post: b"",
) -> Figures:
    """Compare what was accepted with what the database holds and what the sink received.

    `trace`: the header lines the receiving side prepends to a post's bytes (Return-Path over SMTP).
    """
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(select(Message.message_id, Message.status, Message.reason, Message.raw)).all()
            rcpt_status = collections.Counter(s.scalars(select(OutboxRecipient.status)).all())
    finally:
        engine.dispose()
    f = Figures(accepted=len(posts), stored=len(rows))
    by_id: dict[str, list[Any]] = collections.defaultdict(list)
    for row in rows:
        by_id[(row.message_id or "").strip("<>")].append(row)
    f.statuses = dict(collections.Counter(r.status for r in rows))
    for post in posts:
        found = by_id.get(post.message_id, [])
        if not found:
            f.lost.append(post.token)
            continue
        f.duplicate_rows += len(found) - 1
        row = found[0]
        if row.status not in FINAL_STATUSES or (row.status == "failed" and not row.reason):
            f.not_final.append(f"{post.token}: {row.status}")
        if _norm_crlf(row.raw) != _norm_crlf(trace(post) + post.raw):
            f.raw_mismatch.append(post.token)
    f.pending = rcpt_status.get("pending", 0)
    f.failed_rcpts = rcpt_status.get("failed", 0)
    copies = sink_copies(sink)
    refused_set = {r.lower() for r in refused}
    for post in posts:
        if not post.from_member:
            continue
        for rcpt in members:
            if rcpt == post.sender or rcpt in refused_set:
                continue
            n = copies.get((post.token, rcpt), 0)
            if n == 0:
                f.missing_deliveries.append(f"{post.token}->{rcpt}")
            f.duplicates += max(0, n - 1)
    return f


def assert_nothing_lost(f: Figures) -> None:
    assert f.lost == [], f"accepted but not stored: {f.lost[:10]}"
    assert f.duplicate_rows == 0, f"{f.duplicate_rows} messages stored twice"
    assert f.not_final == [], f.not_final[:10]
    assert f.raw_mismatch == [], f"raw bytes differ: {f.raw_mismatch[:10]}"
    assert f.missing_deliveries == [], f"not delivered: {f.missing_deliveries[:10]}"
    assert f.pending == 0, f"{f.pending} outbox recipients still pending"


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> float:
    """Poll `predicate` until true; returns seconds waited (raises AssertionError on timeout)."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)
    return time.monotonic() - began


def db_counts(db_url: str) -> tuple[int, int]:
    """(messages stored, outbox recipients still pending): cheap progress probe for wait_until."""
    from sqlalchemy import func

    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as s:
            stored = s.scalar(select(func.count()).select_from(Message)) or 0
            pending = s.scalar(
                select(func.count()).select_from(OutboxRecipient).where(OutboxRecipient.status == "pending")
            ) or 0
    finally:
        engine.dispose()
    return stored, pending


def setup_members(cfg: Path) -> None:
    """Migrate the database named in `cfg` and add the three members, in-process (fast)."""
    app = App(load(cfg))
    try:
        app.prepare()
        add_members(app, *MEMBERS)
    finally:
        app.engine.dispose()


def fast_settings(db_url: str, tmp_path: Path, smtp_port: int, imap: ImapSettings) -> Any:
    """Settings for an in-process bot with short retry and poll intervals (seconds, not minutes)."""
    import dataclasses

    from tests.helpers import settings_for

    imap = dataclasses.replace(imap, poll_seconds=0.5, fetch_batch=5)
    s = settings_for(db_url, tmp_path, smtp_port=smtp_port, imap=imap)
    s.smtp.retry_base_seconds = 0.5
    s.smtp.retry_max_seconds = 2.0
    s.smtp.poll_seconds = 0.3
    return s


class RunningBot:
    """`App.run` on a thread with the system clock: the long-running bot, in-process."""

    def __init__(self, settings: Any) -> None:
        from mailbot.clock import SystemClock

        self.app = App(settings, clock=SystemClock())
        self.app.prepare()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.app.run, args=(self.stop, self.ready.set), daemon=True)

    def start(self) -> RunningBot:
        self.thread.start()
        assert self.ready.wait(15), "bot did not start"
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "bot did not stop"
        self.app.engine.dispose()

    def __enter__(self) -> RunningBot:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def settled(db_url: str, dovecot: Any, user: str, posts: Sequence[Post]) -> Any:
    """Predicate: every post stored, the inbox empty, and no outbox recipient pending."""

    def check() -> bool:
        stored, pending = db_counts(db_url)
        if stored < len(posts) or pending:
            return False
        try:
            return not dovecot.list_uids(user, "INBOX")
        except Exception:  # the server is restarting: ask again on the next poll
            return False

    return check
