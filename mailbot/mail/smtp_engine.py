"""SMTP transactions on several persistent connections, driven from one thread with `select`.

A connection pipelines (RFC 2920) when the server offers it, and a message's end goes in the same
write as the next transaction's commands; without PIPELINING each command waits for its reply.
Outcomes are per recipient: a 421 or a lost link fails (temporarily) only what was undecided.
"""

from __future__ import annotations

import logging
import re
import select
import smtplib
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from mailbot.faults import checkpoint
from mailbot.mail.envelope import Envelope, SendResult

log = logging.getLogger(__name__)

# Anything that could end or smuggle an SMTP command line, or break the <...> syntax.
BAD_ADDRESS = re.compile(r"[\x00-\x20\x7f<>]")
_MAX_REPLY = 64 * 1024  # a reply longer than this without a line end: not an SMTP server

# What a reply answers. RSET and a lone dot's replies decide nothing (a 421 still ends the link).
_MAIL, _RCPT, _DATA, _BODY, _DOT, _RSET = range(6)


class Link(Protocol):
    """A persistent SMTP connection: opened (greeting, EHLO, TLS, login) on demand, dropped on trouble."""

    smtp: smtplib.SMTP | None  # None: not open
    fresh: bool  # no transaction completed on it since it was opened

    def open(self) -> smtplib.SMTP: ...

    def drop(self) -> None: ...


def _reply_text(code: int, msg: bytes | str) -> str:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg
    return f"{code} {' '.join(text.split())}".strip()


def _fail(result: SendResult, rcpts: Sequence[str], code: int, text: str) -> None:
    target = result.perm_failed if 500 <= code < 600 else result.temp_failed
    for r in rcpts:
        target[r] = text


def _connect_error(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_code, exc.smtp_error)
    return f"451 4.4.1 connection failed: {exc.__class__.__name__}: {exc}"


class _Lost(Exception):
    """The link broke or the server said 421 (`text` says which, SMTP-style)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Txn:
    """One envelope's MAIL/RCPT/DATA exchange on one connection."""

    __slots__ = (
        "index", "env", "wire", "attempt", "result", "rcpts", "rcpt_cmds",
        "pending", "mail", "rcpt_replies", "replied", "may_retry",
    )  # fmt: skip

    def __init__(self, index: int, env: Envelope, wire: bytes, attempt: int) -> None:
        self.index = index
        self.env = env
        self.wire = wire
        self.attempt = attempt
        self.result = SendResult()
        self.rcpts: list[str] = []  # well-formed recipients, sent
        self.rcpt_cmds: list[bytes] = []
        self.pending: list[str] = []  # recipients not yet decided
        self.mail: tuple[int, bytes] = (0, b"")
        self.rcpt_replies: list[tuple[int, bytes]] = []
        self.replied = False  # any reply of this transaction read: something may have been accepted
        self.may_retry = False


class _Session:
    """One connection's side of a call: its transactions, the replies it waits for, what it will write."""

    def __init__(self, link: Link, run: _Run) -> None:
        self.link = link
        self.run = run
        self.smtp: smtplib.SMTP | None = None
        self.pipelining = False
        self.closed = False  # could not connect: takes no more envelopes in this call
        self.proven = False  # the server answered on this connection since it was opened
        self.inbuf = b""
        self.lines: list[bytes] = []  # the current reply's lines so far (multi-line replies)
        self.expect: deque[tuple[int, _Txn | None]] = deque()
        self.out: list[bytes] = []
        self.active: _Txn | None = None  # commands sent, message not yet: the next must wait (or chain)
        self.inflight: list[_Txn] = []
        self.deadline = 0.0

    # -- starting transactions ----------------------------------------------------------------
    def advance(self) -> None:
        """Start transactions while this connection may, then write what is due. With PIPELINING a
        new one starts as soon as the previous one's message is sent (same write); without, when
        every reply is in."""
        run = self.run
        while not self.closed and self.active is None and (self.pipelining or not self.expect) and run.todo:
            index, attempt = run.todo.popleft()
            if self.smtp is None and not self._connect():
                run.todo.appendleft((index, attempt))
                break
            env = run.envelopes[index]
            self._begin(_Txn(index, env, run.wires[index], attempt))
        self._flush()

    def _connect(self) -> bool:
        try:
            if self.link.smtp is not None and _said_goodbye(self.link.smtp):
                self.link.drop()  # closed by the server while idle: open a new one, fail nothing
            smtp = self.link.open()
        except Exception as exc:  # any failure to connect is temporary
            self.run.connect_failed(_connect_error(exc))
            return False
        if smtp.sock is None:
            self.run.connect_failed("451 4.4.1 connection failed: not connected")
            return False
        self.smtp = smtp
        self.pipelining = smtp.has_extn("pipelining")
        self.proven = False
        return True

    def _begin(self, txn: _Txn) -> None:
        smtp = self.smtp
        assert smtp is not None
        env, result = txn.env, txn.result
        utf8 = not env.mail_from.isascii() or not all(r.isascii() for r in env.rcpts)
        if utf8 and not smtp.has_extn("smtputf8"):
            _fail(result, env.rcpts, 553, "553 5.6.7 relay does not support SMTPUTF8 addresses")
            self._finish(txn)
            return
        if BAD_ADDRESS.search(env.mail_from):
            _fail(result, env.rcpts, 501, "501 5.1.7 bad sender address syntax")
            self._finish(txn)
            return
        for r in env.rcpts:
            if not r or BAD_ADDRESS.search(r):
                result.perm_failed[r] = "501 5.1.3 bad recipient address syntax"
            else:
                txn.rcpts.append(r)
        if not txn.rcpts:
            self._finish(txn)
            return
        options = ""
        if not env.data.isascii() and smtp.has_extn("8bitmime"):
            options += " BODY=8BITMIME"
        if utf8:
            options += " SMTPUTF8"
        encoding = "utf-8" if utf8 else "ascii"
        mail_cmd = f"MAIL FROM:<{env.mail_from}>{options}\r\n".encode(encoding)
        txn.rcpt_cmds = [f"RCPT TO:<{r}>\r\n".encode(encoding) for r in txn.rcpts]
        txn.pending = list(txn.rcpts)
        # Sent again on a new connection if the link dies before any reply, unless the link is new
        # and has never answered (then the trouble is not an idle connection closed by the server).
        txn.may_retry = txn.attempt == 1 and (not self.link.fresh or self.proven)
        self.active = txn
        self.inflight.append(txn)
        if self.pipelining:
            # MAIL, every RCPT and DATA in one write (DATA may end a group): one round trip.
            self.out.append(mail_cmd + b"".join(txn.rcpt_cmds) + b"DATA\r\n")
            self.expect.append((_MAIL, txn))
            self.expect.extend([(_RCPT, txn)] * len(txn.rcpts))
            self.expect.append((_DATA, txn))
        else:
            self.out.append(mail_cmd)
            self.expect.append((_MAIL, txn))

    def _finish(self, txn: _Txn) -> None:
        self.run.results[txn.index] = txn.result
        if txn in self.inflight:
            self.inflight.remove(txn)
        if self.active is txn:
            self.active = None
        if txn.replied:
            self.link.fresh = False

    def _rset(self) -> None:
        self.out.append(b"RSET\r\n")
        self.expect.append((_RSET, None))

    # -- replies ----------------------------------------------------------------------------------
    def _sock(self) -> socket.socket:
        sock = self.smtp.sock if self.smtp is not None else None
        if sock is None:
            raise _Lost("451 4.4.2 connection lost: not connected")
        return sock

    def buffered(self) -> bool:
        return self.smtp is not None and _decrypted_waiting(self.smtp.sock)

    def receive(self) -> None:
        """Read what the server sent, act on each complete reply, then write what follows."""
        sock = self._sock()
        try:
            data = sock.recv(65536)
        except OSError as exc:
            raise _Lost(f"451 4.4.2 connection lost: {exc}") from exc
        if not data:
            raise _Lost("451 4.4.2 connection lost: the server closed the connection")
        buf = self.inbuf + data
        start = 0
        expect = self.expect
        while expect:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = buf[start : end + 1]
            start = end + 1
            if line[3:4] == b"-":
                self.lines.append(line)
                continue  # more lines of this reply follow
            lines: list[bytes] | None = None
            if self.lines:
                lines, self.lines = [*self.lines, line], []
            try:
                code = int(line[:3])
            except ValueError:
                code = -1
            kind, txn = expect.popleft()
            if kind == _RCPT and code in (250, 251) and lines is None and txn is not None and self.pipelining:
                # A recipient taken, the usual reply and one per member: nothing to decide yet and
                # its text is never shown, so none is kept (a 1,000-member post reads 999 of these).
                self.proven = txn.replied = True
                txn.rcpt_replies.append((code, b""))
                continue
            msg = b"\n".join(ln[4:].strip(b" \t\r\n") for ln in lines or (line,))
            self._reply(kind, txn, code, msg)
        self.inbuf = buf[start:]
        if len(self.inbuf) > _MAX_REPLY:
            raise _Lost("451 4.4.2 connection lost: reply line too long")
        self.deadline = time.monotonic() + self.run.timeout
        self.advance()

    def _reply(self, kind: int, txn: _Txn | None, code: int, msg: bytes) -> None:
        self.proven = True
        if txn is not None:
            txn.replied = True
        if code == 421:
            raise _Lost(_reply_text(code, msg))
        if txn is None:
            return  # RSET, or the end of a message to nobody: nothing to decide
        result = txn.result
        if kind == _MAIL:
            txn.mail = (code, msg)
            if not self.pipelining:
                if code == 250:
                    self.out.append(txn.rcpt_cmds[0])
                    self.expect.append((_RCPT, txn))
                else:
                    _fail(result, txn.rcpts, code, _reply_text(code, msg))
                    txn.pending = []
                    self._rset()
                    self._finish(txn)
        elif kind == _RCPT:
            txn.rcpt_replies.append((code, msg))
            if not self.pipelining:
                sent = len(txn.rcpt_replies)
                if sent < len(txn.rcpts):
                    self.out.append(txn.rcpt_cmds[sent])
                    self.expect.append((_RCPT, txn))
                else:
                    txn.pending = _accepted(result, txn.rcpts, txn.rcpt_replies)
                    if txn.pending:
                        self.out.append(b"DATA\r\n")
                        self.expect.append((_DATA, txn))
                    else:
                        self._rset()
                        self._finish(txn)
        elif kind == _DATA:
            if self.pipelining:
                mail_code, mail_msg = txn.mail
                if mail_code != 250:
                    _fail(result, txn.rcpts, mail_code, _reply_text(mail_code, mail_msg))
                    txn.pending = []
                else:
                    txn.pending = _accepted(result, txn.rcpts, txn.rcpt_replies)
                if code == 354 and not txn.pending:
                    # DATA accepted although no recipient was: end it at once (RFC 2920 3.1).
                    self.out.append(b".\r\n")
                    self.expect.append((_DOT, None))
            ok = txn.pending
            if not ok:
                self._rset()
                self._finish(txn)
            elif code != 354:
                _fail(result, ok, code, _reply_text(code, msg))
                txn.pending = []
                self._rset()
                self._finish(txn)
            else:
                checkpoint("smtp-mid-transaction")  # the relay holds an open transaction here
                self.out.append(txn.wire)
                self.expect.append((_BODY, txn))
                self.active = None  # the next transaction's commands may follow in this write
        elif kind == _BODY:
            if code == 250:
                result.accepted.extend(txn.pending)
            else:
                _fail(result, txn.pending, code, _reply_text(code, msg))
            txn.pending = []
            self._finish(txn)

    def _flush(self) -> None:
        if not self.out:
            return
        payload = b"".join(self.out)
        self.out.clear()
        sock = self._sock()
        try:
            sock.sendall(payload)
        except OSError as exc:
            raise _Lost(f"451 4.4.2 connection lost: {exc}") from exc
        self.deadline = time.monotonic() + self.run.timeout

    # -- trouble ------------------------------------------------------------------------------------
    def lost(self, text: str, *, retry: bool = True) -> None:
        """The link is gone: undecided recipients fail temporarily, except a transaction with no
        reply yet on a link that had worked (closed while idle): it goes again on a new link."""
        again: list[tuple[int, int]] = []
        for txn in self.inflight:
            if retry and txn.may_retry and not txn.replied:
                again.append((txn.index, 2))
                continue
            for r in txn.pending:
                if r not in txn.result.perm_failed and r not in txn.result.temp_failed:
                    txn.result.temp_failed[r] = text
            self.run.results[txn.index] = txn.result
        self.run.todo.extendleft(reversed(again))
        self.inflight.clear()
        self.active = None
        self.expect.clear()
        self.out.clear()
        self.inbuf = b""
        self.lines = []
        self.smtp = None
        self.link.drop()


class _Run:
    """One call: the envelopes, their results, the work not yet started, the connections."""

    def __init__(self, links: Sequence[Link], envelopes: Sequence[Envelope], wires: Sequence[bytes], timeout: float):
        self.envelopes = envelopes
        self.wires = wires
        self.timeout = timeout
        self.results: list[SendResult | None] = [None] * len(envelopes)
        self.todo: deque[tuple[int, int]] = deque((i, 1) for i in range(len(envelopes)))  # (index, attempt)
        self.errors: list[str] = []
        self.sessions = [_Session(link, self) for link in links[: max(1, min(len(links), len(envelopes)))]]

    def connect_failed(self, text: str) -> None:
        # The relay refused or did not answer a new connection: no other new one is tried in this
        # call (one after another, each could wait the whole timeout); open ones carry on.
        self.errors.append(text)
        for s in self.sessions:
            if s.link.smtp is None:
                s.closed = True

    def step(self, session: _Session, action: Callable[[], None]) -> None:
        try:
            action()
        except _Lost as exc:
            session.lost(exc.text)
        except Exception as exc:  # delivery problems never escape; recipients kept for retry
            log.exception("smtp-send: unexpected error, recipients kept for retry")
            session.lost(f"451 4.4.2 connection lost: {exc.__class__.__name__}: {exc}", retry=False)

    def go(self) -> None:
        sessions = self.sessions
        while True:
            for s in sessions:
                if not s.closed and not s.expect and self.todo:
                    self.step(s, s.advance)
            waiting = [s for s in sessions if s.expect]
            if not waiting:
                return  # nothing outstanding: everything started is decided, and nothing more can start
            ready = [s for s in waiting if s.buffered()]
            if not ready:
                socks = {s.smtp.sock: s for s in waiting if s.smtp is not None and s.smtp.sock is not None}
                wait = max(0.0, min(s.deadline for s in waiting) - time.monotonic())
                readable, _, _ = select.select(list(socks), [], [], wait)
                ready = [socks[sock] for sock in readable]
                if not ready:
                    now = time.monotonic()
                    for s in waiting:
                        if now >= s.deadline:
                            s.lost("451 4.4.2 connection lost: timed out waiting for the server")
                    continue
            for s in ready:
                self.step(s, s.receive)


def run_transactions(
    links: Sequence[Link], envelopes: Sequence[Envelope], wires: Sequence[bytes], timeout: float
) -> list[SendResult]:
    """Send each envelope (its DATA in wire form, index for index) over the links; one result each,
    in order. Envelopes no link could take fail temporarily with the last connection error."""
    run = _Run(links, envelopes, wires, timeout)
    run.go()
    reason = run.errors[-1] if run.errors else "451 4.4.0 not attempted"
    return [
        res if res is not None else SendResult(temp_failed={r: reason for r in env.rcpts})
        for env, res in zip(envelopes, run.results, strict=True)
    ]


def _said_goodbye(smtp: smtplib.SMTP) -> bool:
    """An idle connection has nothing to read unless the server hung up: a 421 "idle timeout"
    (Postfix after 5 minutes, Exchange too) or just the close. Read as the next transaction's
    first reply, that 421 would fail a message the server never saw."""
    sock = smtp.sock
    if sock is None or _decrypted_waiting(sock):
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _decrypted_waiting(sock: socket.socket | None) -> bool:
    """TLS data already decrypted and waiting: `select` would not see it."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _accepted(result: SendResult, rcpts: Sequence[str], replies: Sequence[tuple[int, bytes]]) -> list[str]:
    """The recipients the server took; the others get their reply in `result`."""
    ok: list[str] = []
    for r, (code, msg) in zip(rcpts, replies, strict=True):
        if code in (250, 251):
            ok.append(r)
        else:
            _fail(result, [r], code, _reply_text(code, msg))
    return ok
