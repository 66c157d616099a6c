"""Outbound delivery: envelopes over persistent, parallel SMTP connections with a
per-recipient outcome (accepted / temporary / permanent), or into a Maildir when no relay is set.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from mailbot.config import Settings, SmtpSettings
from mailbot.mail.envelope import Envelope, SendResult, wire_data
from mailbot.mail.smtp_engine import BAD_ADDRESS, run_transactions

__all__ = ["Envelope", "MaildirSender", "SendResult", "Sender", "SmtpSender", "make_sender", "wire_data"]

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]: ...

    def close(self) -> None: ...


class _Connection:
    """One persistent SMTP session: opened (greeting, EHLO, TLS, login) here, used by the engine."""

    def __init__(self, settings: SmtpSettings, local_hostname: str) -> None:
        self.settings = settings
        self.local_hostname = local_hostname
        self.smtp: smtplib.SMTP | None = None
        self.fresh = False  # no transaction on it yet: a failure is not "died while idle"

    def open(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        smtp: smtplib.SMTP
        if s.ssl:
            smtp = smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=self.local_hostname,
                timeout=s.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(
                s.host, s.port, local_hostname=self.local_hostname, timeout=s.timeout
            )
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        self.smtp = smtp
        self.fresh = True
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def quit(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self.drop()


_KEEP_WIRE_BYTES = 1 << 20


class SmtpSender:
    """Sends envelopes through up to `settings.connections` persistent connections in parallel,
    all driven from the calling thread (see smtp_engine).

    Never raises for delivery problems: connection failures, 4xx and 421 become temp_failed,
    5xx become perm_failed, per recipient. Calls to send_many are serialised.
    """

    def __init__(self, settings: SmtpSettings, *, local_hostname: str | None = None) -> None:
        self.settings = settings
        # An explicit name: smtplib's default getfqdn() can block on reverse DNS.
        name = local_hostname or socket.gethostname() or "localhost"
        self._conns = [_Connection(settings, name) for _ in range(max(1, settings.connections))]
        self._lock = threading.Lock()
        self._last_wire: tuple[bytes, bytes] | None = None  # (data, its wire form)

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        with self._lock:
            return self._send_locked(envelopes)

    def _send_locked(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        # VERP envelopes usually share one data object, across the rounds of a claim too:
        # prepare its wire form once (the last one is kept, checked by identity).
        wires: dict[int, bytes] = {}
        for env in envelopes:
            if id(env.data) not in wires:
                last = self._last_wire
                if last is not None and last[0] is env.data:
                    wires[id(env.data)] = last[1]
                else:
                    wires[id(env.data)] = wire_data(env.data)
                    # Not for large messages: they would stay in memory until the next send.
                    small = len(env.data) <= _KEEP_WIRE_BYTES
                    self._last_wire = (env.data, wires[id(env.data)]) if small else None
        # One thread drives every connection (select): no hand-offs between threads per envelope.
        return run_transactions(self._conns, envelopes, [wires[id(e.data)] for e in envelopes], self.settings.timeout)

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.quit()


class MaildirSender:
    """Writes each envelope x recipient into a Maildir, with Return-Path and Delivered-To
    prepended, so a newcomer without a relay can read exactly what would have been sent."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None
        self._lock = threading.Lock()

    def _maildir(self) -> mailbox.Maildir:
        if self._box is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._box = mailbox.Maildir(self.path, create=True)
        return self._box

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        out: list[SendResult] = []
        with self._lock:
            for env in envelopes:
                result = SendResult()
                # Maildir files use the local line ending, not SMTP's CRLF.
                body = env.data.replace(b"\r\n", b"\n")
                for rcpt in env.rcpts:
                    head = f"Return-Path: <{env.mail_from}>\nDelivered-To: {rcpt}\n"
                    if BAD_ADDRESS.search(env.mail_from) or not rcpt or BAD_ADDRESS.search(rcpt):
                        result.perm_failed[rcpt] = "501 5.1.3 bad address syntax"
                        continue
                    try:
                        self._maildir().add(head.encode("utf-8") + body)
                    except OSError as exc:
                        result.temp_failed[rcpt] = f"451 4.3.0 maildir write failed: {exc}"
                    else:
                        result.accepted.append(rcpt)
                out.append(result)
        return out

    def close(self) -> None:
        self._box = None


def make_sender(settings: Settings) -> Sender:
    """SMTP when a relay is configured, else the outbound Maildir (see config.py)."""
    if settings.smtp.enabled:
        return SmtpSender(settings.smtp)
    return MaildirSender(settings.paths.resolved_outbound_maildir())
