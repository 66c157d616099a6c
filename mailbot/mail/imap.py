"""IMAP inbound: fetch new mail with BODY.PEEK[], hand it to the pipeline, move/flag it only afterwards.

One ImapSource watches one folder of one account; `run_forever` waits with IDLE (or polls) and
reconnects with exponential backoff. Nothing leaves the folder before the pipeline has committed it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from imapclient import IMAPClient

from mailbot.config import ImapSettings
from mailbot.faults import checkpoint
from mailbot.mail.contracts import Ingest, IngestResult, WatermarkStore

log = logging.getLogger(__name__)

DONE_KEYWORD = "$MailbotDone"
# Errors that mean "the connection is gone": reconnect and carry on. IMAP NO/BAD answers are
# not in here; they propagate and run_forever backs off.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (IMAPClient.AbortError, OSError, EOFError)
BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
IDLE_SLICE = 1.0  # how often IDLE wakes to look at the stop event


class ImapConnectionLost(ConnectionError):
    """The server closed the connection (BYE or EOF) while we were waiting for mail."""


class IngestUnavailable(Exception):
    """Ingest raised (database down): the message stays in the folder; `__cause__` says why."""


def message_id_of(raw: bytes) -> str:
    """Message-ID for log lines; '-' when absent or unreadable (never raises)."""
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536]).get("Message-ID")
        return " ".join(str(value).split()) if value else "-"
    except Exception:  # logging must not fail on a malformed header block
        return "-"


def backoff_delay(failures: int) -> float:
    """Exponential 1s..60s with +-20% jitter so many instances do not reconnect in step."""
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, failures - 1))
    return max(BACKOFF_MIN, min(BACKOFF_MAX, base * random.uniform(0.8, 1.2)))


class ImapSource:
    """Watches `settings.folder`; every message goes through `ingest` exactly until it is moved/flagged."""

    def __init__(
        self,
        settings: ImapSettings,
        ingest: Ingest,
        watermarks: WatermarkStore,
        *,
        stop: threading.Event,
        name: str = "imap",
    ) -> None:
        self.settings = settings
        self.ingest = ingest
        self.watermarks = watermarks
        self.stop = stop
        self.name = name
        self.account = settings.account_key
        self._client: IMAPClient | None = None
        self._known_folders: set[str] = set()
        self._count = 0

    # -- connection --------------------------------------------------------------------
    def _connect(self) -> IMAPClient:
        if self._client is not None:
            return self._client
        s = self.settings
        client = IMAPClient(s.host, port=s.port, ssl=s.ssl, timeout=s.timeout)
        try:
            if s.starttls:
                client.starttls(ssl.create_default_context())
            client.login(s.username, s.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        self._client = client
        self._known_folders = set()
        log.info("%s: connected to %s:%s as %s", self.name, s.host, s.port, s.username)
        return client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.shutdown()  # no LOGOUT: the connection may already be dead

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.logout()
        with contextlib.suppress(Exception):
            client.shutdown()

    # -- draining ----------------------------------------------------------------------
    def drain(self) -> int:
        """Ingest everything waiting in the folder; returns how many messages ingest accepted.

        Reconnects once if the connection drops midway. Raises when ingest raises (database
        down: the message stays in the folder) or when the server keeps failing.
        """
        self._count = 0
        for attempt in (1, 2):
            try:
                self._drain_once(self._connect())
                return self._count
            except CONNECTION_ERRORS as exc:
                self._disconnect()
                if attempt == 2 or self.stop.is_set():
                    raise
                log.warning("%s: connection lost during drain (%s); reconnecting", self.name, exc)
        return self._count  # pragma: no cover - loop always returns or raises

    def _drain_once(self, client: IMAPClient) -> None:
        s = self.settings
        selected = client.select_folder(s.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        self.watermarks.touch(self.account, s.folder)
        mark = self.watermarks.get(self.account, s.folder)
        last_uid = 0
        if mark is not None and mark[0] == uidvalidity:
            last_uid = mark[1]
        else:
            if mark is not None:
                log.warning(
                    "%s: UIDVALIDITY of %s changed %s -> %s; rescanning the whole folder",
                    self.name,
                    s.folder,
                    mark[0],
                    uidvalidity,
                )
            self.watermarks.set(self.account, s.folder, uidvalidity, 0)
        attempted: set[int] = set()
        # Repeat until a search finds nothing new, so mail that arrived while we worked is taken
        # now rather than after the next IDLE wake-up.
        while not self.stop.is_set():
            self._forget_untagged(client)
            pending = [u for u in self._search(client, last_uid) if u not in attempted]
            if not pending:
                return
            for start in range(0, len(pending), max(1, s.fetch_batch)):
                batch = pending[start : start + max(1, s.fetch_batch)]
                attempted.update(batch)
                last_uid = self._process_batch(client, batch, uidvalidity, last_uid)
                if self.stop.is_set():
                    return

    def _search(self, client: IMAPClient, last_uid: int) -> list[int]:
        if self.settings.after_processing == "flag":
            criteria: list[Any] = ["UNKEYWORD", DONE_KEYWORD, "NOT", "DELETED"]
        else:
            # Move mode: whatever is still here is unfinished, including anything at or below
            # the watermark (a crash between commit and move); dedupe in the pipeline absorbs it.
            criteria = ["NOT", "DELETED"]
        uids = sorted(int(u) for u in client.search(criteria))
        # New mail first, then leftovers below the watermark.
        return [u for u in uids if u > last_uid] + [u for u in uids if u <= last_uid]

    def _process_batch(
        self, client: IMAPClient, batch: Sequence[int], uidvalidity: int, last_uid: int
    ) -> int:
        fetched = client.fetch(batch, ["BODY.PEEK[]"])
        checkpoint("imap-after-fetch")
        done: list[int] = []
        failed: list[int] = []
        try:
            for uid in batch:
                data = fetched.get(uid)
                if data is None or b"BODY[]" not in data:
                    continue  # expunged by someone else meanwhile
                raw = bytes(data[b"BODY[]"])
                try:
                    result = self.ingest(
                        raw, source="imap", source_ref=self._source_ref(uidvalidity, uid)
                    )
                except Exception as exc:
                    # Wrapped so a database OSError is never mistaken for a dropped IMAP link.
                    raise IngestUnavailable(f"uid {uid}: {type(exc).__name__}: {exc}") from exc
                self._count += 1
                self._log_result(uid, raw, result)
                (failed if result.status == "failed" else done).append(uid)
                if self.stop.is_set():
                    break
        finally:
            # Also when ingest raised: what it already committed leaves the folder now, the rest
            # (including the message it raised on) stays for the next drain.
            checkpoint("imap-before-move")
            self._finish(client, done, failed)
            checkpoint("imap-after-move")
            handled = [u for u in done + failed if u > last_uid]
            if handled:
                last_uid = max(handled)
                self.watermarks.set(self.account, self.settings.folder, uidvalidity, last_uid)
        return last_uid

    def _source_ref(self, uidvalidity: int, uid: int) -> str:
        return f"imap:{self.account}/{self.settings.folder};UIDVALIDITY={uidvalidity}/;UID={uid}"

    def _log_result(self, uid: int, raw: bytes, result: IngestResult) -> None:
        log.info(
            "%s: uid=%s message-id=%s status=%s kind=%s%s",
            self.name,
            uid,
            f"<{result.message_id}>" if result.message_id else message_id_of(raw),
            result.status,
            result.kind or "-",
            f" reason={result.reason}" if result.reason else "",
        )

    def _finish(self, client: IMAPClient, done: list[int], failed: list[int]) -> None:
        s = self.settings
        if failed:
            self._move(client, failed, s.failed_folder)
        if not done:
            return
        if s.after_processing == "flag":
            client.add_flags(done, [DONE_KEYWORD])
        else:
            self._move(client, done, s.processed_folder)

    def _move(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        self._ensure_folder(client, folder)
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()  # without UIDPLUS this also expunges others' \Deleted messages

    def _ensure_folder(self, client: IMAPClient, folder: str) -> None:
        if folder in self._known_folders:
            return
        if not client.folder_exists(folder):
            try:
                client.create_folder(folder)
            except IMAPClient.Error:
                if not client.folder_exists(folder):  # lost a race with another instance: fine
                    raise
        self._known_folders.add(folder)

    @staticmethod
    def _forget_untagged(client: IMAPClient) -> None:
        # imaplib keeps every unsolicited response (EXPUNGE after each MOVE...) forever; a
        # long-running watcher would grow without bound.
        with contextlib.suppress(Exception):
            client._imap.untagged_responses.clear()

    # -- waiting ----------------------------------------------------------------------
    def run_forever(self) -> None:
        """Drain, wait for mail (IDLE or polling), repeat; reconnect with backoff; end on `stop`."""
        failures = 0
        while not self.stop.is_set():
            try:
                self.drain()
                failures = 0
                self._wait_for_mail()
            except Exception as exc:  # the loop must survive anything: log, back off, retry
                failures += 1
                delay = backoff_delay(failures)
                log.warning(
                    "%s: %s: %s; retrying in %.1fs", self.name, type(exc).__name__, exc, delay
                )
                self._disconnect()
                self.stop.wait(delay)
        self.close()

    def _wait_for_mail(self) -> None:
        s = self.settings
        client = self._client
        if self.stop.is_set() or client is None:
            return
        if not (s.idle and client.has_capability("IDLE")):
            self.stop.wait(s.poll_seconds)
            return
        client.idle()
        try:
            self._idle_until_news(client)
        finally:
            if self._client is not None:  # None: the connection died and was dropped
                client.idle_done()

    def _idle_until_news(self, client: IMAPClient) -> None:
        deadline = time.monotonic() + self.settings.idle_seconds
        quick_empty = 0
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return  # re-issue IDLE before the server's inactivity cut-off
            slice_ = min(IDLE_SLICE, remaining)
            began = time.monotonic()
            responses = client.idle_check(timeout=slice_)
            if _has_news(responses):
                return
            if _has_bye(responses):
                self._disconnect()
                raise ImapConnectionLost("server said BYE during IDLE")
            # idle_check hides EOF: it returns [] at once, again and again. A few instant empty
            # returns in a row mean the socket is closed.
            if not responses and time.monotonic() - began < slice_ / 2:
                quick_empty += 1
                if quick_empty >= 3:
                    self._disconnect()
                    raise ImapConnectionLost("connection closed during IDLE")
            else:
                quick_empty = 0


def _has_news(responses: Iterable[Any]) -> bool:
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] == b"EXISTS" for r in responses)


def _has_bye(responses: Iterable[Any]) -> bool:
    return any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses)
