"""Outbound delivery: envelopes over persistent, parallel SMTP connections with a
per-recipient outcome (accepted / temporary / permanent), or into a Maildir when no relay is set.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import re
import smtplib
import socket
import ssl
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mailbot.config import Settings, SmtpSettings

log = logging.getLogger(__name__)


@dataclass
class Envelope:
    mail_from: str  # "" is the null sender
    rcpts: list[str]
    data: bytes


@dataclass
class SendResult:
    accepted: list[str] = field(default_factory=list)
    temp_failed: dict[str, str] = field(default_factory=dict)  # rcpt -> "code text"
    perm_failed: dict[str, str] = field(default_factory=dict)  # rcpt -> "code text"


class Sender(Protocol):
    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]: ...

    def close(self) -> None: ...


# Anything that could end or smuggle an SMTP command line, or break the <...> syntax.
_BAD_ADDRESS = re.compile(r"[\x00-\x20\x7f<>]")
_BARE_EOL = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")


class _Dropped(Exception):
    """The connection broke or the server said 421; `replied` tells whether any reply of
    the current transaction was read (if not, nothing can have been accepted)."""

    def __init__(self, text: str, replied: bool) -> None:
        super().__init__(text)
        self.text = text
        self.replied = replied


def wire_data(data: bytes) -> bytes:
    """The DATA section as sent: CRLF line ends, leading dots doubled, terminated by '.'."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        data = _BARE_EOL.sub(b"\r\n", data)
    if b"\n." in data or data.startswith(b"."):
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _reply_text(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
    return f"{code} {' '.join(text.split())}".strip()


def _fail(result: SendResult, rcpts: Sequence[str], code: int, text: str) -> None:
    target = result.perm_failed if 500 <= code < 600 else result.temp_failed
    for r in rcpts:
        target[r] = text


class _Connection:
    """One persistent SMTP session; used by one worker thread at a time."""

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


def _reply(smtp: smtplib.SMTP, replied: bool) -> tuple[int, bytes]:
    try:
        code, msg = smtp.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _Dropped(f"451 4.4.2 connection lost: {exc}", replied) from exc
    if code == 421:
        raise _Dropped(_reply_text(code, msg), True)
    return code, msg


def _send(smtp: smtplib.SMTP, payload: bytes, replied: bool) -> None:
    sock = smtp.sock
    if sock is None:
        raise _Dropped("451 4.4.2 connection lost: not connected", replied)
    try:
        sock.sendall(payload)
    except OSError as exc:
        raise _Dropped(f"451 4.4.2 connection lost: {exc}", replied) from exc


def _transaction(smtp: smtplib.SMTP, env: Envelope, wire: bytes, result: SendResult) -> None:
    """One MAIL/RCPT/DATA exchange. Fills `result`; raises _Dropped on 421 or a lost link
    (the caller marks the recipients not yet in `result` as temporarily failed)."""
    utf8 = not env.mail_from.isascii() or not all(r.isascii() for r in env.rcpts)
    if utf8 and not smtp.has_extn("smtputf8"):
        _fail(result, env.rcpts, 553, "553 5.6.7 relay does not support SMTPUTF8 addresses")
        return
    if _BAD_ADDRESS.search(env.mail_from):
        _fail(result, env.rcpts, 501, "501 5.1.7 bad sender address syntax")
        return
    rcpts: list[str] = []
    for r in env.rcpts:
        if not r or _BAD_ADDRESS.search(r):
            result.perm_failed[r] = "501 5.1.3 bad recipient address syntax"
        else:
            rcpts.append(r)
    if not rcpts:
        return
    options = ""
    if not env.data.isascii() and smtp.has_extn("8bitmime"):
        options += " BODY=8BITMIME"
    if utf8:
        options += " SMTPUTF8"
    encoding = "utf-8" if utf8 else "ascii"
    mail_cmd = f"MAIL FROM:<{env.mail_from}>{options}\r\n".encode(encoding)
    rcpt_cmds = [f"RCPT TO:<{r}>\r\n".encode(encoding) for r in rcpts]

    pending = list(rcpts)
    replied = False
    try:
        if smtp.has_extn("pipelining"):
            _pipelined(smtp, rcpts, mail_cmd + b"".join(rcpt_cmds), wire, result)
            return
        _send(smtp, mail_cmd, replied)
        mail_code, mail_msg = _reply(smtp, replied)
        replied = True
        rcpt_replies = []
        if mail_code == 250:
            for cmd in rcpt_cmds:
                _send(smtp, cmd, replied)
                rcpt_replies.append(_reply(smtp, replied))
        if mail_code != 250:
            _fail(result, rcpts, mail_code, _reply_text(mail_code, mail_msg))
            _rset(smtp)
            return
        ok = _accepted_rcpts(result, rcpts, rcpt_replies)
        pending = ok
        if not ok:
            _rset(smtp)
            return
        _send(smtp, b"DATA\r\n", replied)
        code, msg = _reply(smtp, replied)
        if code != 354:
            _fail(result, ok, code, _reply_text(code, msg))
            _rset(smtp)
            return
        _message(smtp, wire, ok, result, replied)
    except _Dropped as exc:
        _fail_pending(result, pending, exc)
        raise


def _message(smtp: smtplib.SMTP, wire: bytes, ok: list[str], result: SendResult, replied: bool) -> None:
    """After 354: the message itself; its final reply decides for every accepted recipient."""
    _send(smtp, wire, replied)
    code, msg = _reply(smtp, replied)
    if code == 250:
        result.accepted.extend(ok)
    else:
        _fail(result, ok, code, _reply_text(code, msg))


def _accepted_rcpts(result: SendResult, rcpts: Sequence[str], replies: Sequence[tuple[int, bytes]]) -> list[str]:
    """The recipients the server took; the others get their reply in `result`."""
    ok: list[str] = []
    for r, (code, msg) in zip(rcpts, replies, strict=True):
        if code in (250, 251):
            ok.append(r)
        else:
            _fail(result, [r], code, _reply_text(code, msg))
    return ok


def _fail_pending(result: SendResult, pending: Sequence[str], exc: _Dropped) -> None:
    for r in pending:
        if r not in result.perm_failed and r not in result.temp_failed:
            result.temp_failed[r] = exc.text


def _pipelined(smtp: smtplib.SMTP, rcpts: list[str], commands: bytes, wire: bytes, result: SendResult) -> None:
    """RFC 2920: MAIL, every RCPT and DATA in one write (DATA may end a group), then the replies
    in order: one round trip before the message instead of two. If DATA is accepted although
    no recipient was, the message is ended at once with a lone dot (RFC 2920 section 3.1)."""
    pending = list(rcpts)
    replied = False
    try:
        _send(smtp, commands + b"DATA\r\n", replied)
        mail_code, mail_msg = _reply(smtp, replied)
        replied = True
        rcpt_replies = [_reply(smtp, replied) for _ in rcpts]
        data_code, data_msg = _reply(smtp, replied)
        if mail_code != 250:
            _fail(result, rcpts, mail_code, _reply_text(mail_code, mail_msg))
            ok: list[str] = []
        else:
            ok = _accepted_rcpts(result, rcpts, rcpt_replies)
        pending = ok
        if data_code == 354 and not ok:
            _send(smtp, b".\r\n", replied)
            _reply(smtp, replied)  # a message to nobody: its reply means nothing
        if not ok:
            _rset(smtp)
            return
        if data_code != 354:
            _fail(result, ok, data_code, _reply_text(data_code, data_msg))
            _rset(smtp)
            return
        _message(smtp, wire, ok, result, replied)
    except _Dropped as exc:
        _fail_pending(result, pending, exc)
        raise


def _rset(smtp: smtplib.SMTP) -> None:
    try:
        code, msg = smtp.docmd("RSET")
    except (smtplib.SMTPException, OSError) as exc:
        raise _Dropped(f"451 4.4.2 connection lost: {exc}", True) from exc
    if code == 421:
        raise _Dropped(_reply_text(code, msg), True)


_KEEP_WIRE_BYTES = 1 << 20


class SmtpSender:
    """Sends envelopes through up to `settings.connections` persistent connections in parallel.

    Never raises for delivery problems: connection failures, 4xx and 421 become temp_failed,
    5xx become perm_failed, per recipient. Calls to send_many are serialised.
    """

    def __init__(self, settings: SmtpSettings, *, local_hostname: str | None = None) -> None:
        self.settings = settings
        # An explicit name: smtplib's default getfqdn() can block on reverse DNS.
        name = local_hostname or socket.gethostname() or "localhost"
        self._conns = [_Connection(settings, name) for _ in range(max(1, settings.connections))]
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._last_wire: tuple[bytes, bytes] | None = None  # (data, its wire form)

    def send_many(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        if not envelopes:
            return []
        with self._lock:
            return self._send_locked(envelopes)

    def _send_locked(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(envelopes)
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
        todo = deque(range(len(envelopes)))
        todo_lock = threading.Lock()
        errors: list[str] = []

        def work(conn: _Connection) -> None:
            while True:
                with todo_lock:
                    if not todo:
                        return
                    i = todo.popleft()
                env = envelopes[i]
                try:
                    conn.open()
                except Exception as exc:  # any failure to connect is temporary
                    # Hand the envelope back to the other connections and stop this one
                    # (e.g. the relay allows fewer parallel sessions than configured).
                    errors.append(_connect_error(exc))
                    with todo_lock:
                        todo.appendleft(i)
                    return
                results[i] = self._deliver(conn, env, wires[id(env.data)])

        workers = self._conns[: min(len(self._conns), len(envelopes))]
        # This thread drives the first connection itself (one hand-off fewer per call); the pool
        # drives the others, if the call has envelopes for more than one.
        futures = []
        if len(workers) > 1:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=len(self._conns) - 1, thread_name_prefix="smtp-send"
                )
            futures = [self._executor.submit(work, c) for c in workers[1:]]
        work(workers[0])
        for fut in futures:
            fut.result()
        reason = errors[-1] if errors else "451 4.4.0 not attempted"
        out: list[SendResult] = []
        for env, res in zip(envelopes, results, strict=True):
            if res is None:
                res = SendResult(temp_failed={r: reason for r in env.rcpts})
            out.append(res)
        return out

    def _deliver(self, conn: _Connection, env: Envelope, wire: bytes) -> SendResult:
        """One envelope on an open connection; reconnects once if it had died while idle."""
        for attempt in (1, 2):
            result = SendResult()
            try:
                smtp = conn.open()
                _transaction(smtp, env, wire, result)
                conn.fresh = False
                return result
            except _Dropped as exc:
                was_fresh = conn.fresh
                conn.drop()
                # A reused connection that died while idle: nothing was accepted, try anew.
                if attempt == 1 and not exc.replied and not was_fresh:
                    continue
                return result
            except Exception as exc:  # delivery problems never escape
                conn.drop()
                if not isinstance(exc, smtplib.SMTPException | OSError):
                    log.exception("smtp-send: unexpected error, recipients kept for retry")
                text = f"451 4.4.2 connection lost: {exc.__class__.__name__}: {exc}"
                for r in env.rcpts:
                    if r not in result.perm_failed and r not in result.accepted:
                        result.temp_failed[r] = text
                return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.quit()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


def _connect_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_code, exc.smtp_error)
    return f"451 4.4.1 connection failed: {exc.__class__.__name__}: {exc}"


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
                    if _BAD_ADDRESS.search(env.mail_from) or not rcpt or _BAD_ADDRESS.search(rcpt):
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
