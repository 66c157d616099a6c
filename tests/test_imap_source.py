"""ImapSource against a real Dovecot: fetch, ingest, move/flag only after commit, survive drops and crashes.

The pipeline is replaced by a recording Ingest behind our own contract; it dedupes by Message-ID
the way the real pipeline does, so re-fetches after crashes show up as 'duplicate'.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from imapclient import IMAPClient

from mailbot.config import ImapSettings
from mailbot.mail.contracts import IngestResult, MemoryWatermarks
from mailbot.mail.imap import DONE_KEYWORD, ImapSource, IngestUnavailable, message_id_of
from tests.servers.dovecot import Dovecot


class DatabaseDown(ConnectionError):  # an OSError, like many real driver failures
    pass


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the source may swallow it."""


class RecordingIngest:
    """Stores messages by Message-ID (dedupe like the pipeline); can be told the database is down."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, str]] = []  # (message-id, status, source_ref)
        self.stored: dict[str, bytes] = {}
        self.down = False
        self.after_store: Callable[[str], None] | None = None
        self.arrived = threading.Condition(self.lock)

    def __call__(
        self, raw: bytes, *, source: str, source_ref: str, envelope_to: Sequence[str] = ()
    ) -> IngestResult:
        mid = message_id_of(raw)
        with self.lock:
            if self.down:
                self.calls.append((mid, "raised", source_ref))
                raise DatabaseDown("could not connect to the database")
            if mid in self.stored:
                status = "duplicate"
            else:
                self.stored[mid] = raw
                status = "failed" if b"X-Test: fail" in raw else "processed"
            self.calls.append((mid, status, source_ref))
            pk = list(self.stored).index(mid) + 1
            self.arrived.notify_all()
        if self.after_store is not None and status != "duplicate":
            self.after_store(mid)
        return IngestResult(status, pk, "post", "unparseable" if status == "failed" else None)

    def statuses(self, mid: str) -> list[str]:
        with self.lock:
            return [s for m, s, _ in self.calls if m == mid]

    def wait_stored(self, count: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.stored) >= count, timeout)


def msg(n: int, extra: str = "") -> bytes:
    body = f"ข้อความทดสอบ {n}\r\n".encode()
    return (
        f"From: Somchai <somchai@example.org>\r\nTo: km-it@localhost\r\n"
        f"Subject: =?utf-8?b?4LiX4LiU4Liq4Lit4Lia?= {n}\r\nMessage-ID: <m{n}@example.org>\r\n"
        f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + body


def mid(n: int) -> str:
    return f"<m{n}@example.org>"


def raws(dovecot: Dovecot, user: str, folder: str) -> list[bytes]:
    return [raw for raw, _ in dovecot.fetch_all(user, folder).values()]


@pytest.fixture
def ingest() -> RecordingIngest:
    return RecordingIngest()


@pytest.fixture
def watermarks() -> MemoryWatermarks:
    return MemoryWatermarks()


@pytest.fixture
def make_source(imap_settings: ImapSettings, ingest: RecordingIngest, watermarks: MemoryWatermarks):
    made: list[ImapSource] = []

    def make(**changes: object) -> ImapSource:
        settings = dataclasses.replace(imap_settings, **changes)  # type: ignore[arg-type]
        src = ImapSource(settings, ingest, watermarks, stop=threading.Event())
        made.append(src)
        return src

    yield make
    for src in made:
        src.stop.set()
        src.close()


def test_messages_are_ingested_once_and_moved(
    dovecot, imap_settings, ingest, watermarks, make_source, caplog
):
    user = imap_settings.username
    sent = [msg(n) for n in range(1, 6)]
    for raw in sent:
        dovecot.append(user, "INBOX", raw)
    src = make_source(fetch_batch=2)
    with caplog.at_level(logging.INFO, logger="mailbot.mail.imap"):
        assert src.drain() == 5
    assert [m for m, _, _ in ingest.calls] == [mid(n) for n in range(1, 6)]
    assert all(s == "processed" for _, s, _ in ingest.calls)
    assert list(ingest.stored.values()) == sent  # byte-exact
    assert raws(dovecot, user, "INBOX") == []
    processed = dovecot.fetch_all(user, "mailbot/processed")
    assert sorted(r for r, _ in processed.values()) == sorted(sent)
    assert all(b"\\Seen" not in flags for _, flags in processed.values())  # PEEK only
    uidvalidity, last_uid = watermarks.get(imap_settings.account_key, "INBOX") or (0, 0)
    assert last_uid == 5 and uidvalidity > 0
    assert len({ref for _, _, ref in ingest.calls}) == 5
    assert "uid=3 message-id=<m3@example.org> status=processed kind=post" in caplog.text
    # Nothing new: a second drain ingests nothing.
    assert src.drain() == 0
    assert len(ingest.calls) == 5


def test_flag_mode_keeps_mail_and_skips_flagged(dovecot, imap_settings, ingest, make_source):
    user = imap_settings.username
    dovecot.append(user, "INBOX", msg(1))
    dovecot.append(user, "INBOX", msg(2))
    src = make_source(after_processing="flag")
    assert src.drain() == 2
    inbox = dovecot.fetch_all(user, "INBOX")
    assert len(inbox) == 2
    for _, flags in inbox.values():
        assert DONE_KEYWORD.encode() in flags and b"\\Seen" not in flags
    dovecot.append(user, "INBOX", msg(3))
    assert src.drain() == 1
    assert [m for m, _, _ in ingest.calls] == [mid(1), mid(2), mid(3)]
    # A restarted source (fresh watermarks) still skips what is flagged.
    fresh = ImapSource(src.settings, ingest, MemoryWatermarks(), stop=threading.Event())
    try:
        assert fresh.drain() == 0
    finally:
        fresh.close()


def test_database_down_leaves_mail_until_recovery(dovecot, imap_settings, ingest, make_source):
    user = imap_settings.username
    for n in (1, 2, 3):
        dovecot.append(user, "INBOX", msg(n))
    src = make_source()
    # The database dies right after committing message 1.
    ingest.after_store = lambda m: setattr(ingest, "down", True)
    with pytest.raises(IngestUnavailable) as err:
        src.drain()
    assert isinstance(err.value.__cause__, DatabaseDown)
    assert [m for m, _, _ in ingest.calls] == [mid(1), mid(2)]
    assert raws(dovecot, user, "mailbot/processed") == [msg(1)]  # committed -> moved
    assert sorted(raws(dovecot, user, "INBOX")) == [msg(2), msg(3)]  # kept for later
    ingest.after_store = None
    ingest.down = False
    assert src.drain() == 2
    assert raws(dovecot, user, "INBOX") == []
    assert sorted(raws(dovecot, user, "mailbot/processed")) == [msg(1), msg(2), msg(3)]
    assert ingest.statuses(mid(2)) == ["raised", "processed"]


def test_connection_killed_mid_fetch(dovecot, imap_settings, ingest, make_source):
    user = imap_settings.username
    for n in range(1, 5):
        dovecot.append(user, "INBOX", msg(n))
    src = make_source(fetch_batch=1)

    def kill_once(m: str) -> None:
        if m == mid(2):
            dovecot.kill_connections(user)

    ingest.after_store = kill_once
    src.drain()  # reconnects by itself
    assert set(ingest.stored) == {mid(n) for n in range(1, 5)}
    # Message 2 was committed but its move died with the connection: fetched again, deduped.
    assert ingest.statuses(mid(2)) == ["processed", "duplicate"]
    assert all(ingest.statuses(mid(n)) == ["processed"] for n in (1, 3, 4))
    assert raws(dovecot, user, "INBOX") == []
    assert sorted(raws(dovecot, user, "mailbot/processed")) == [msg(n) for n in range(1, 5)]


def test_crash_between_commit_and_move_refetches(
    dovecot, imap_settings, ingest, watermarks, make_source
):
    user = imap_settings.username
    for n in (1, 2, 3):
        dovecot.append(user, "INBOX", msg(n))
    src = make_source()

    def crash(m: str) -> None:
        if m == mid(2):
            raise SimulatedCrash()

    ingest.after_store = crash
    with pytest.raises(SimulatedCrash):
        src.drain()
    src.close()
    assert mid(2) in ingest.stored and msg(2) in raws(dovecot, user, "INBOX")
    # Worst case: the watermark was persisted past everything (say, with the commit). Mail still
    # in the folder must be fetched anyway; the watermark only orders the work.
    validity, _ = watermarks.get(imap_settings.account_key, "INBOX") or (0, 0)
    watermarks.set(imap_settings.account_key, "INBOX", validity, 3)
    # "Restart": a new source with the persisted watermarks.
    ingest.after_store = None
    again = make_source()
    assert again.drain() == 2
    assert ingest.statuses(mid(2)) == ["processed", "duplicate"]
    assert ingest.statuses(mid(3)) == ["processed"]
    assert raws(dovecot, user, "INBOX") == []
    assert sorted(raws(dovecot, user, "mailbot/processed")) == [msg(1), msg(2), msg(3)]


def test_uidvalidity_change_rescans(
    dovecot, imap_settings, ingest, watermarks, make_source, caplog
):
    user = imap_settings.username
    folder = "lists/km-it"
    for n in (1, 2, 3):
        dovecot.append(user, folder, msg(n))
    src = make_source(folder=folder)
    assert src.drain() == 3
    old_validity, last_uid = watermarks.get(imap_settings.account_key, folder) or (0, 0)
    assert last_uid == 3
    # The folder is recreated (as after a server migration): UIDs restart at 1, below the watermark.
    with dovecot.client(user) as c:
        c.delete_folder(folder)
        c.create_folder(folder)
    dovecot.append(user, folder, msg(4))
    dovecot.append(user, folder, msg(1))  # a repeat of known mail: the pipeline dedupes it
    with caplog.at_level(logging.WARNING, logger="mailbot.mail.imap"):
        assert src.drain() == 2
    assert "UIDVALIDITY" in caplog.text
    assert ingest.statuses(mid(4)) == ["processed"]
    assert ingest.statuses(mid(1)) == ["processed", "duplicate"]
    new_validity, new_last = watermarks.get(imap_settings.account_key, folder) or (0, 0)
    assert new_validity != old_validity and new_last == 2
    assert raws(dovecot, user, folder) == []


def test_uidvalidity_change_in_place_refetches_leftovers(
    dovecot, imap_settings, ingest, watermarks, make_source
):
    user = imap_settings.username
    dovecot.append(user, "INBOX", msg(1))
    src = make_source()
    assert src.drain() == 1
    dovecot.append(user, "INBOX", msg(2))
    dovecot.set_uidvalidity(user, "INBOX")
    assert src.drain() == 1
    assert ingest.statuses(mid(2)) == ["processed"]
    validity, _ = watermarks.get(imap_settings.account_key, "INBOX") or (0, 0)
    with dovecot.client(user) as c:
        assert c.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"] == validity


def test_failed_result_goes_to_failed_folder(dovecot, imap_settings, ingest, make_source):
    user = imap_settings.username
    bad = msg(1, extra="X-Test: fail\r\n")
    dovecot.append(user, "INBOX", bad)
    dovecot.append(user, "INBOX", msg(2))
    for mode in ("move", "flag"):
        src = make_source(after_processing=mode)
        src.drain()
        if mode == "move":
            assert raws(dovecot, user, "mailbot/failed") == [bad]
            assert raws(dovecot, user, "mailbot/processed") == [msg(2)]
            assert raws(dovecot, user, "INBOX") == []
            dovecot.append(user, "INBOX", msg(3, extra="X-Test: fail\r\n"))
    # Flag mode too moves failures out of the way, for an operator to inspect.
    assert len(raws(dovecot, user, "mailbot/failed")) == 2
    assert raws(dovecot, user, "INBOX") == []


def test_copy_expunge_fallback_without_move(
    dovecot, imap_settings, ingest, make_source, monkeypatch
):
    user = imap_settings.username
    dovecot.append(user, "INBOX", msg(1))
    dovecot.append(user, "INBOX", msg(2))
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient, "has_capability", lambda self, cap: cap.upper() != "MOVE" and real(self, cap)
    )
    assert make_source().drain() == 2
    assert dovecot.list_uids(user, "INBOX") == []  # expunged, not merely flagged \Deleted
    assert sorted(raws(dovecot, user, "mailbot/processed")) == [msg(1), msg(2)]


def _run(src: ImapSource) -> threading.Thread:
    t = threading.Thread(target=src.run_forever, daemon=True)
    t.start()
    return t


def _wait_polled(src: ImapSource, watermarks: MemoryWatermarks, timeout: float = 5) -> None:
    key = (src.account, src.settings.folder)
    deadline = time.monotonic() + timeout
    while key not in watermarks.touched:
        assert time.monotonic() < deadline, "source never polled"
        time.sleep(0.05)
    time.sleep(0.3)  # let it enter IDLE


def test_idle_picks_up_new_mail_and_stop_is_prompt(
    dovecot, imap_settings, ingest, watermarks, make_source
):
    user = imap_settings.username
    # poll_seconds is long: only IDLE can notice the new message within the deadline.
    src = make_source(poll_seconds=120.0, idle_seconds=120.0)
    thread = _run(src)
    _wait_polled(src, watermarks)
    began = time.monotonic()
    dovecot.append(user, "INBOX", msg(1))
    assert ingest.wait_stored(1, timeout=5), "IDLE did not pick up the new message"
    assert time.monotonic() - began < 5
    # The connection is dropped while idling: it reconnects and keeps working.
    time.sleep(0.3)
    dovecot.kill_connections(user)
    dovecot.append(user, "INBOX", msg(2))
    assert ingest.wait_stored(2, timeout=10), "no recovery after the connection was dropped"
    began = time.monotonic()
    src.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 2.0
    assert raws(dovecot, user, "INBOX") == []


def test_polling_when_idle_disabled(dovecot, imap_settings, ingest, watermarks, make_source):
    src = make_source(idle=False, poll_seconds=0.5)
    thread = _run(src)
    _wait_polled(src, watermarks)
    dovecot.append(imap_settings.username, "INBOX", msg(1))
    assert ingest.wait_stored(1, timeout=5)
    src.stop.set()
    thread.join(timeout=3)
    assert not thread.is_alive()


def test_run_forever_backs_off_and_stops_promptly_when_server_unreachable(ingest, make_source):
    from tests.servers.dovecot import free_port

    src = make_source(port=free_port(), timeout=2.0)  # nothing listens there
    thread = _run(src)
    time.sleep(1.5)  # at least one failed attempt and a backoff wait
    assert thread.is_alive()
    began = time.monotonic()
    src.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - began < 2.0
    assert ingest.calls == []


def test_run_forever_retries_after_database_outage(
    dovecot, imap_settings, ingest, watermarks, make_source
):
    user = imap_settings.username
    ingest.down = True
    dovecot.append(user, "INBOX", msg(1))
    src = make_source(poll_seconds=120.0)
    thread = _run(src)
    deadline = time.monotonic() + 5
    while not ingest.calls:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert raws(dovecot, user, "INBOX") == [msg(1)]
    ingest.down = False  # the database is back; the backoff retry (about 1 s) takes the mail
    assert ingest.wait_stored(1, timeout=6)
    src.stop.set()
    thread.join(timeout=3)
    assert raws(dovecot, user, "mailbot/processed") == [msg(1)]
